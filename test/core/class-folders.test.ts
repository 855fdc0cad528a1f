// The one label <-> folder-name rule: what a folder run's class folders are called is read back as
// the same class, and so are the ways people write a class folder by hand.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { classFolderName, classFolderNames, classOfFolder } from '../../main/core/class-folders.js';

const FASHION = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

describe('class folders', () => {
  it('name each label without characters a file system refuses', () => {
    expect(classFolderName('T-shirt/top', 0)).toBe('T-shirt_top');
    expect(classFolderName('Ankle boot', 9)).toBe('Ankle boot');
    expect(classFolderName('a:b*c?', 1)).toBe('a_b_c_');
    expect(classFolderName(' .. ', 4)).toBe('class-4');
  });

  it('give every label its own folder, safe on every file system, read back as that class, for any labels', () => {
    const check = (labels: string[]) => {
      const names = classFolderNames(labels);
      expect(names).toHaveLength(labels.length);
      // One folder each, also where the file system ignores case.
      expect(new Set(names.map((n) => n.toUpperCase().toLowerCase())).size).toBe(labels.length);
      for (const [i, n] of names.entries()) {
        expect(n).not.toMatch(/[\\/:*?"<>|\x00-\x1f]|^[.\s]|[.\s]$|^(con|prn|aux|nul|com\d|lpt\d)(\.|$)/i);
        expect(new TextEncoder().encode(n).length).toBeLessThanOrEqual(255);
        expect(classOfFolder(n, labels)).toBe(i);
      }
    };
    // Found by the property below: three labels whose plain names were `_`, `_` and `class-2`.
    check(['/', ':', ' ']);
    check(['a/b', 'a_b', 'A_B', 'a_b (class 0)', 'CON', 'x'.repeat(300), 'x'.repeat(299) + 'y']);
    fc.assert(fc.property(fc.uniqueArray(fc.string({ minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 12 }), check));
    fc.assert(fc.property(fc.uniqueArray(fc.string({ minLength: 1, maxLength: 4, unit: fc.constantFrom('a', 'A', '_', '/', ':', ' ', '.', 'é', 'e\u0301') }), { minLength: 1, maxLength: 12 }), check));
  });

  it('keep a label that is a folder name as it is, and the plain name for a label alone', () => {
    expect(classFolderNames(['a/b', 'a_b'])).toEqual(['a_b (class 0)', 'a_b']);
    expect(classFolderNames(['Dog', 'dog'])).toEqual(['Dog', 'dog (class 1)']);
    expect(classFolderNames(['nul', 'com1.txt'])).toEqual(['nul_', 'com1_.txt']);
    expect(classFolderNames(['T-shirt/top', 'Ankle boot'])).toEqual(['T-shirt_top', 'Ankle boot']);
  });

  it('take the labels as written, as a folder run writes them, in any case and separator, or as an index', () => {
    const cases: [string, number][] = [
      ['T-shirt/top', 0],
      ['T-shirt_top', 0],
      ['t-shirt-top', 0],
      ['T-SHIRT TOP', 0],
      ['Ankle boot', 9],
      ['ankle-boot', 9],
      ['ankle_boot', 9],
      ['AnkleBoot', -1],
      ['3', 3],
      ['10', -1],
      ['hats', -1],
    ];
    for (const [name, want] of cases) expect(classOfFolder(name, FASHION), name).toBe(want);
  });

  it('refuse a name that fits two classes alike', () => {
    expect(classOfFolder('a-b', ['a b', 'a_b'])).toBe(-1);
    expect(classOfFolder('a b', ['a b', 'a_b'])).toBe(0);
  });
});
