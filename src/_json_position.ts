// Where JSON text goes wrong. V8's JSON.parse messages do not always carry a
// position, so this small scanner finds the offset of the first error itself.

/** The offset of the first syntax error in `text`, or `text.length` when the text ends early. */
export function jsonErrorOffset(text: string): number {
  let at = 0;
  const fail = (): never => {
    throw at;
  };
  const space = () => {
    while (at < text.length && " \t\n\r".includes(text[at]!)) at++;
  };
  const literal = (word: string) => {
    if (text.startsWith(word, at)) at += word.length;
    else fail();
  };
  const string = () => {
    at++; // opening quote
    while (at < text.length && text[at] !== '"') {
      const char = text[at]!;
      if (char < " ") fail();
      if (char === "\\") {
        at++;
        if (text[at] === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(at + 1, at + 5))) fail();
          at += 4;
        } else if (!'"\\/bfnrt'.includes(text[at] ?? "")) fail();
      }
      at++;
    }
    if (at >= text.length) fail();
    at++;
  };
  const number = () => {
    const match = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(at));
    if (!match) fail();
    at += match![0].length;
  };
  const value = (): void => {
    space();
    const char = text[at];
    if (char === "{") {
      at++;
      space();
      if (text[at] === "}") return void at++;
      for (;;) {
        space();
        if (text[at] !== '"') fail();
        string();
        space();
        if (text[at] !== ":") fail();
        at++;
        value();
        space();
        if (text[at] === ",") at++;
        else if (text[at] === "}") return void at++;
        else fail();
      }
    }
    if (char === "[") {
      at++;
      space();
      if (text[at] === "]") return void at++;
      for (;;) {
        value();
        space();
        if (text[at] === ",") at++;
        else if (text[at] === "]") return void at++;
        else fail();
      }
    }
    if (char === '"') return string();
    if (char === "t") return literal("true");
    if (char === "f") return literal("false");
    if (char === "n") return literal("null");
    if (char === "-" || (char !== undefined && char >= "0" && char <= "9")) return number();
    fail();
  };
  try {
    value();
    space();
    if (at < text.length) fail();
  } catch (offset) {
    if (typeof offset === "number") return Math.min(offset, text.length);
    throw offset;
  }
  return text.length;
}

/** Where in JSON text an offset lies, and what is found there, for a syntax error's message. */
export interface JsonPosition {
  /** 1-based line. */
  line: number;
  /** 1-based column, in UTF-16 code units. */
  column: number;
  /** What is wrong there: `unexpected ","`, `unexpected U+00A0` or `the text ends too early`. */
  reason: string;
}

/** The line, column and reason of a syntax error at `offset` in `text`. */
export function describeJsonPosition(text: string, offset: number): JsonPosition {
  const at = Math.min(Math.max(offset, 0), text.length);
  const before = text.slice(0, at);
  const line = before.split("\n").length;
  const column = at - before.lastIndexOf("\n");
  const found = text[at];
  const reason = found === undefined
    ? "the text ends too early"
    : /^[\x21-\x7e]$/.test(found)
    ? `unexpected ${JSON.stringify(found)}`
    : `unexpected U+${found.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`;
  return { line, column, reason };
}
