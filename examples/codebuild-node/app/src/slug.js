'use strict';

/** Turn a title into a URL slug: lowercase ASCII words joined by single dashes. */
function slugify(title, { maxLength = 80 } = {}) {
  const words = String(title)
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/&/g, ' and ')
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
  let slug = '';
  for (const word of words) {
    const next = slug ? `${slug}-${word}` : word;
    if (next.length > maxLength) break;
    slug = next;
  }
  return slug;
}

module.exports = { slugify };
