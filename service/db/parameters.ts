// The parameters of one SQL statement that is built clause by clause (optional filters, the
// columns a patch sets): each value is added where its placeholder is written, so the numbering
// follows the text.

export class StatementParameters {
  readonly values: unknown[] = [];

  /** Binds `value` as the next parameter; its placeholder, e.g. `$3`. */
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}
