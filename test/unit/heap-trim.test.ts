import { describe, expect, it } from 'vitest';
import { worthTrimming } from '../../src/heap-trim.js';

const MB = 1024 * 1024;

describe('worthTrimming', () => {
  it.each([
    // total, after the last trim, worth it
    [6 * MB, 0, false], // a heap that never grew past a bare start
    [20 * MB, 0, true], // a small keeper's first quiet moment after start-up
    [95 * MB, 0, true], // the first quiet moment after a start-up burst
    [14 * MB, 9 * MB, false], // grew by half, but by less than 8 MB: churn
    [80 * MB, 67 * MB, false], // ordinary growth after a trim
    [110 * MB, 67 * MB, true], // grew by more than 8 MB and by half
    [530 * MB, 400 * MB, false], // grew by 130 MB but not by half
  ])('%d bytes after %d -> %s', (total, after, expected) => {
    expect(worthTrimming(total, after)).toBe(expected);
  });
});
