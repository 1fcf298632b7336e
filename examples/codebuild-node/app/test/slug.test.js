'use strict';
const test = require('node:test');
const assert = require('node:assert');
const { slugify } = require('../src/slug');

test('lowercases and joins words with dashes', () => {
  assert.strictEqual(slugify('Hello World'), 'hello-world');
});

test('strips accents', () => {
  assert.strictEqual(slugify('Crème Brûlée'), 'creme-brulee');
});

test('spells out ampersands', () => {
  assert.strictEqual(slugify('Salt & Pepper'), 'salt-and-pepper');
});

test('never cuts a word in half', () => {
  assert.strictEqual(slugify('one two three', { maxLength: 9 }), 'one-two');
});
