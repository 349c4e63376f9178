import { parser } from '@prometheus-io/lezer-promql';

/** Where a PromQL expression stops parsing: the offset of the first error, and the text there. */
export interface PromqlSyntaxError {
  /** 0-based offset into the expression. */
  at: number;
  /** Up to 20 characters from there; empty when the expression ends too early. */
  near: string;
}

/**
 * Parses the expression with Prometheus' own grammar (the one its web UI
 * uses); undefined when it parses. Syntax only: types (a range vector where
 * an instant one is wanted) are still checked by Prometheus at query time.
 */
export function promqlSyntaxError(expression: string): PromqlSyntaxError | undefined {
  let at: number | undefined;
  parser.parse(expression).iterate({
    enter: (node) => {
      if (at !== undefined) return false;
      if (node.type.isError) at = node.from;
      return undefined;
    },
  });
  return at === undefined ? undefined : { at, near: expression.slice(at, at + 20) };
}
