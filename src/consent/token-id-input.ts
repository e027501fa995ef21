import { UsageError } from '../errors.js';

const BARE_TOKEN_ID = /^[A-Za-z0-9._-]{8,200}$/;

/**
 * What a person pastes after logging in: the whole address the browser ended on (Dhan's redirect
 * with `?tokenId=`, or `tokenid` as an older doc spells it), or the bare tokenId.
 */
export function tokenIdFromInput(input: string): string {
  const text = input.trim();
  if (/^https?:\/\//i.test(text)) {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw new UsageError('that address is not a valid URL: copy the whole address from the browser bar');
    }
    const tokenId = url.searchParams.get('tokenId') ?? url.searchParams.get('tokenid');
    if (tokenId === null || !BARE_TOKEN_ID.test(tokenId)) {
      throw new UsageError(
        'that address has no tokenId: copy the address the browser ended on after the Dhan login (it ends in ?tokenId=…)',
      );
    }
    return tokenId;
  }
  if (!BARE_TOKEN_ID.test(text)) {
    throw new UsageError('paste the address the browser ended on (…?tokenId=…) or the tokenId alone');
  }
  return text;
}
