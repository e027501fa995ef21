/** Collects every problem while the config is validated, so that the user sees them all at once. */
export class Problems {
  readonly errors: string[] = [];
  readonly warnings: string[] = [];

  /** `path` is a key path like `accounts[1].pin`; messages say what is wrong, then what to do. */
  error(path: string, message: string): void {
    this.errors.push(path === '' ? message : `${path}: ${message}`);
  }

  warn(path: string, message: string): void {
    this.warnings.push(path === '' ? message : `${path}: ${message}`);
  }
}

export type Warn = (path: string, message: string) => void;

/** What the schema needs from the file it validates. */
export interface Ctx {
  readonly sourcePath: string;
  /** The config file's folder: relative paths are resolved against it, not the cwd. */
  readonly baseDir: string;
  /** Files already checked for loose permissions, so that each is warned about once. */
  readonly permissionChecked: Set<string>;
}

export function at(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  return parent === '' ? key : `${parent}.${key}`;
}

/** zod's `['accounts', 1, 'pin']` as `accounts[1].pin`. */
export function keyPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((out, key) => at(out, typeof key === 'number' ? key : String(key)), '');
}
