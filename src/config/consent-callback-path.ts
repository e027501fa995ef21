/** The path the keeper's HTTP server answers Dhan's redirect on (its own module: the CLI needs it without the config schema). */
export const CONSENT_CALLBACK_PATH = '/v1/consent/callback';
