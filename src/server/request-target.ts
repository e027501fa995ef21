/** What routes read of a request's target: its path and its query. */
export interface RequestTarget {
  readonly pathname: string;
  /** `''` without a query, as WHATWG URL has it; otherwise starts with `?`. */
  readonly search: string;
  readonly searchParams: URLSearchParams;
}

const BASE = 'http://keeper.invalid';
/*
 * Paths the WHATWG parser would hand back unchanged: segments of plain characters, no empty
 * segment (`//x` would read as a host), no `.` or `..` segment, nothing percent-encoded.
 * Everything else (rare: only a confused or hostile client sends it) goes through URL, so
 * every route sees what it always saw.
 */
const PLAIN_PATH = /^(?:\/[\w~-]+(?:\.[\w~-]+)*)*\/?$/;
const PLAIN_QUERY = /^[\w.~=&%+-]*$/;

/**
 * A request target read without building a URL per request: the token API and /healthz are
 * the hot path, and `new URL` was a good part of their cost. The query is parsed only when a
 * route asks for it.
 */
class PlainTarget implements RequestTarget {
  #params: URLSearchParams | undefined;

  constructor(
    readonly pathname: string,
    readonly search: string,
  ) {}

  get searchParams(): URLSearchParams {
    this.#params ??= new URLSearchParams(this.search);
    return this.#params;
  }
}

export function requestTarget(raw: string | undefined): RequestTarget {
  const target = raw ?? '/';
  const mark = target.indexOf('?');
  const path = mark === -1 ? target : target.slice(0, mark);
  const query = mark === -1 ? '' : target.slice(mark + 1);
  if (path.charCodeAt(0) === 0x2f && PLAIN_PATH.test(path) && PLAIN_QUERY.test(query)) {
    return new PlainTarget(path, query === '' ? '' : `?${query}`);
  }
  try {
    return new URL(target, BASE);
  } catch {
    // Unparseable request targets are answered like any unknown path: 404.
    return new URL(`${BASE}/`);
  }
}
