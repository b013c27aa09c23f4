/**
 * A processor's own block inside a free-text field (an artifact's
 * description): added once, replaced when the processor runs again, and
 * everything an analyst wrote around it kept as it is.
 *
 * ```text
 * Source of the successful login
 *
 * [asset-inventory]
 * web-01.corp.example (owner IT Ops, location DC1, criticality High)
 * [/asset-inventory]
 * ```
 *
 * @example
 * const next = withBlock(artifact.description, 'asset-inventory', 'web-01 (owner IT Ops)');
 * if (next !== undefined) artifact.description = next; // undefined: already there, nothing to write
 */

/** A description as the platform may hold it: text, rich text, or nothing. */
export type Description = string | { format: string; content: string; [extra: string]: unknown } | null | undefined;

/** The description's text. */
export function descriptionText(description: Description): string {
  if (description === null || description === undefined) return '';
  return typeof description === 'string' ? description : description.content;
}

/**
 * The description with `tag`'s block set to `body`, in the description's
 * own form (text stays text, rich text stays rich text); `undefined` when the
 * block already says exactly that, so the caller makes no write.
 */
export function withBlock(description: Description, tag: string, body: string): Description | undefined {
  const text = descriptionText(description);
  const block = `[${tag}]\n${body.trim()}\n[/${tag}]`;
  const pattern = blockPattern(tag);
  let next: string;
  if (pattern.test(text)) {
    next = text.replace(pattern, () => block);
  } else {
    next = text.trim() === '' ? block : `${text.replace(/\s+$/, '')}\n\n${block}`;
  }
  if (next === text) return undefined;
  if (description !== null && typeof description === 'object') return { ...description, content: next };
  return next;
}

/** The body of `tag`'s block, if the description has one. */
export function readBlock(description: Description, tag: string): string | undefined {
  const match = blockPattern(tag).exec(descriptionText(description));
  return match?.[1]?.trim();
}

function blockPattern(tag: string): RegExp {
  const t = tag.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`\\[${t}\\]\\n([\\s\\S]*?)\\n?\\[/${t}\\]`);
}
