/**
 * Memoises a pure function of a short text, keeping at most `capacity` answers (the whole map is
 * dropped when it fills: the texts we memoise repeat in runs, so a cold map refills at once).
 *
 * Used where a probe would otherwise run luxon's parser on the same text again and again: a
 * token's `tokenValidity` is the same text on each of its ~96 daily probes, and an HTTP `Date`
 * header is the same text for a whole second. Parsing dominated a probe's own CPU.
 */
export function memoText<T>(parse: (text: string) => T, capacity: number): (text: string) => T {
  const answers = new Map<string, T>();
  return (text: string): T => {
    if (answers.has(text)) return answers.get(text) as T;
    const answer = parse(text);
    if (answers.size >= capacity) answers.clear();
    answers.set(text, answer);
    return answer;
  };
}
