import pg from 'pg';
import type { CustomTypesConfig } from 'pg';

const INT8_OID = 20;

type Parser = (value: string) => unknown;

// pg declares its parsers as returning `any`; what comes back is a parser of the text form.
const builtinParser = pg.types.getTypeParser as (oid: number, format?: 'text' | 'binary') => Parser;

/**
 * The type parsers of every connection the keeper opens: bigint columns come back as numbers,
 * since epoch ms and row ids fit a JS number with room to spare (2^53 ms is year 287396).
 */
export const pgTypes: CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary'): Parser =>
    oid === INT8_OID ? (v: string) => Number(v) : builtinParser(oid, format)) as CustomTypesConfig['getTypeParser'],
};
