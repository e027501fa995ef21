/** The CLI's contract with scripts and systemd (docs/cli.md). */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
