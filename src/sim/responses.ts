import { DateTime } from 'luxon';

/**
 * Dhan's response bodies and time formats as the simulator writes them. Kept apart from
 * src/dhan/ on purpose: the client's parsing must be proven against an independent writer.
 */

export interface Reply {
  readonly status: number;
  readonly body: unknown;
}

const IST = 'Asia/Kolkata';

interface DhanErrorSpec {
  readonly type: string;
  readonly message: string;
  readonly status: number;
}

/** Messages from Dhan's error annexure; statuses as seen in the field (docs/dhan-quirks.md, "Errors: DH codes and our readings"). */
const DHAN_ERRORS: Readonly<Record<string, DhanErrorSpec>> = {
  'DH-901': {
    type: 'Invalid_Authentication',
    message: 'Client ID or user generated access token is invalid or expired.',
    status: 401,
  },
  'DH-902': {
    type: 'Invalid_Access',
    message: 'User has not subscribed to Data APIs or does not have access to Trading APIs.',
    status: 400,
  },
  'DH-903': {
    type: 'User_Account',
    message:
      "Errors related to User's Account. Check if the required segments are activated or other requirements are met.",
    status: 400,
  },
  'DH-904': {
    type: 'Rate_Limit',
    message: 'Too many requests on server from single user breaching rate limits.',
    status: 429,
  },
  'DH-905': {
    type: 'Input_Exception',
    message: 'Missing required fields, bad values for parameters etc.',
    status: 400,
  },
  'DH-906': { type: 'Order_Error', message: 'Incorrect request for order and cannot be processed.', status: 400 },
  'DH-907': {
    type: 'Data_Error',
    message: 'System is unable to fetch data due to incorrect parameters or no data present.',
    status: 400,
  },
  'DH-908': { type: 'Internal_Server_Error', message: 'Internal server error.', status: 500 },
  'DH-909': { type: 'Network_Error', message: 'Network error.', status: 503 },
  'DH-910': { type: 'Others', message: 'Other error.', status: 500 },
};

export function dhanError(code: string, options: { status?: number; message?: string } = {}): Reply {
  const spec = DHAN_ERRORS[code] ?? { type: 'Others', message: 'Other error.', status: 400 };
  return {
    status: options.status ?? spec.status,
    body: { errorType: spec.type, errorCode: code, errorMessage: options.message ?? spec.message },
  };
}

/** Generation refusals in the `{status, message}` shape; Dhan's wording is undocumented. */
export function generationRefused(message: string, status = 200): Reply {
  return { status, body: { status: 'error', message } };
}

/** A refusal of the PIN or TOTP in one of the shapes seen from the auth tier (SimAccountOptions.generateRefusal). */
export function credentialsRefused(
  message: string,
  shape: 'status-error' | 'message-200' | 'message-401' | 'error-403',
): Reply {
  switch (shape) {
    case 'status-error':
      return generationRefused(message);
    case 'message-200':
      return { status: 200, body: { message } };
    case 'message-401':
      return { status: 401, body: { message } };
    case 'error-403':
      return { status: 403, body: { error: message } };
  }
}

export const RATE_LIMIT_MESSAGE = 'Token can be generated once every 2 minutes.';

export function rateLimitBody(status: number): Reply {
  return generationRefused(RATE_LIMIT_MESSAGE, status);
}

/** "yyyy-MM-ddTHH:mm:ss.SSS" in IST with no offset, as Dhan writes `expiryTime`. */
export function formatExpiryTime(epochMs: number, withMillis: boolean): string {
  const format = withMillis ? "yyyy-MM-dd'T'HH:mm:ss.SSS" : "yyyy-MM-dd'T'HH:mm:ss";
  return DateTime.fromMillis(epochMs, { zone: IST }).toFormat(format);
}

/** "DD/MM/YYYY HH:mm" in IST, as the profile's `tokenValidity`. */
export function formatTokenValidity(epochMs: number): string {
  return DateTime.fromMillis(epochMs, { zone: IST }).toFormat('dd/MM/yyyy HH:mm');
}

/** The profile's `dataValidity`, e.g. "2025-04-30 23:59:59.0": a plan that runs 30 more days. */
export function formatDataValidity(nowMs: number): string {
  return DateTime.fromMillis(nowMs, { zone: IST }).plus({ days: 30 }).toFormat("yyyy-MM-dd '23:59:59.0'");
}

/** Valid JSON of exactly `bytes` characters (or the smallest such body when `bytes` is tiny). */
export function hugeJson(bytes: number): string {
  const head = '{"status":"success","data":"';
  const tail = '"}';
  return head + 'x'.repeat(Math.max(0, bytes - head.length - tail.length)) + tail;
}
