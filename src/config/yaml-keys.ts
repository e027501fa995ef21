import { isMap, isScalar, visit, type Document, type LineCounter } from 'yaml';

/**
 * Keys given twice in one mapping, as texts naming the key and its line. The yaml library's
 * own `uniqueKeys` check compares every key with every earlier one: 40,000 keys took minutes.
 * A Set per mapping makes it linear. Merge keys (`<<`) may repeat by design.
 */
export function duplicateKeys(doc: Document, lines: LineCounter, max: number): string[] {
  const found: string[] = [];
  visit(doc, {
    Map(_key, map) {
      if (!isMap(map)) return undefined;
      const seen = new Set<string>();
      for (const pair of map.items) {
        // A merge key's value is a symbol; it may repeat by design.
        if (!isScalar(pair.key) || typeof pair.key.value === 'symbol') continue;
        const key = String(pair.key.value);
        if (seen.has(key)) {
          const at = pair.key.range ? lines.linePos(pair.key.range[0]) : undefined;
          // The key's name only: it is not a secret (values are), and it is what the user must fix.
          found.push(
            `Map keys must be unique${at ? ` at line ${at.line}, column ${at.col}` : ''}: "${key.slice(0, 80)}" is given twice in one mapping`,
          );
          if (found.length >= max) return visit.BREAK;
        }
        seen.add(key);
      }
      return undefined;
    },
  });
  return found;
}
