export { DhanClient } from './client.js';
export { DhanError, isDhanError, sanitizeDhanText } from './errors.js';
export type { DhanErrorInit } from './errors.js';
export {
  EXPIRY_DISAGREEMENT_MS,
  EXPIRY_TIME_FORMAT,
  decodeJwtPayload,
  formatExpiryTime,
  looksLikeToken,
  parseExpiryTime,
  parseTokenValidity,
  readExpiry,
  tryReadExpiry,
} from './expiry.js';
export type { ExpiryInfo, ExpiryInput } from './expiry.js';
export {
  MAX_BODY_BYTES,
  classifyTransportError,
  parseConsentConsumeResponse,
  parseConsentGenerateResponse,
  parseProfileResponse,
  parseTokenResponse,
} from './parse.js';
export type { ParseContext, RawResponse } from './parse.js';
export type * from './dhan-api.js';
