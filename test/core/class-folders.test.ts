// The one label <-> folder-name rule: what a folder run's class folders are called is read back as
// the same class, and so are the ways people write a class folder by hand.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { classFolderName, classOfFolder } from '../../main/core/class-folders.js';

const FASHION = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

describe('class folders', () => {
  it('name each label without characters a file system refuses', () => {
    expect(classFolderName('T-shirt/top', 0)).toBe('T-shirt_top');
    expect(classFolderName('Ankle boot', 9)).toBe('Ankle boot');
    expect(classFolderName('a:b*c?', 1)).toBe('a_b_c_');
    expect(classFolderName(' .. ', 4)).toBe('class-4');
  });

  it('read back every name they write, for any labels', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string({ minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 12 }), (labels) => {
        for (const [i, l] of labels.entries()) {
          const back = classOfFolder(classFolderName(l, i), labels);
          // Either the class itself, or refused because two labels are written alike.
          const alike = labels.filter((m, j) => classFolderName(m, j) === classFolderName(l, i)).length;
          expect(back === i || (back === -1 && alike > 1) || labels[back] === classFolderName(l, i)).toBe(true);
        }
      }),
    );
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
