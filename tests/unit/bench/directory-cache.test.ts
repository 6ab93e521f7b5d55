// The directory cache benchmark's pure helpers (issue 22 "Benchmarks"): the median of per-pair ratios with their
// min–max, and the Samba operation count read from fedgate's Prometheus text (tracking_* kept apart).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  formatPaired,
  ldapOperations,
  operationDelta,
  pairedRatio,
} from '../../../bench/directory-cache.ts';
import { groupsOfUser, parentOf } from '../../../bench/seed-groups.ts';

describe('pairedRatio', () => {
  test('median of per-pair ratios, not the ratio of medians', () => {
    // Medians of each side would give 100 / 100 = 1; the pairs say 0.5, 0.9, 2 (median 0.9).
    const r = pairedRatio([
      [50, 100],
      [90, 100],
      [200, 100],
    ]);
    assert.equal(r.median, 0.9);
    assert.equal(r.min, 0.5);
    assert.equal(r.max, 2);
    assert.deepEqual(r.ratios, [0.5, 0.9, 2]);
  });

  test('one noisy pair moves the min–max, not the median', () => {
    const quiet = [
      [80, 100],
      [82, 100],
      [81, 100],
      [79, 100],
    ] as const;
    const noisy = pairedRatio([...quiet, [300, 100]]);
    assert.equal(noisy.median, 0.81);
    assert.equal(noisy.max, 3);
  });

  test('an even count takes the mean of the middle two', () => {
    assert.equal(
      pairedRatio([
        [1, 1],
        [2, 1],
        [3, 1],
        [4, 1],
      ]).median,
      2.5,
    );
  });

  test('pairs with a zero, negative or non-finite side are left out; none left: NaN', () => {
    const r = pairedRatio([
      [1, 0],
      [NaN, 2],
      [-1, 2],
      [3, 2],
    ]);
    assert.deepEqual(r.ratios, [1.5]);
    const empty = pairedRatio([[1, 0]]);
    assert.ok(Number.isNaN(empty.median));
    assert.equal(formatPaired(empty), 'n/a (n/a–n/a)');
  });

  test('formatPaired', () => {
    assert.equal(
      formatPaired(
        pairedRatio([
          [9, 10],
          [8, 10],
          [95, 100],
        ]),
      ),
      '0.90 (0.80–0.95)',
    );
  });
});

describe('ldapOperations / operationDelta', () => {
  const text = (bind: number, search: number, tracking: number) =>
    [
      '# HELP fedgate_ldap_operations_total LDAP network operations started, per domain controller and kind.',
      '# TYPE fedgate_ldap_operations_total counter',
      `fedgate_ldap_operations_total{dc="ldaps://a:636",op="bind"} ${String(bind)}`,
      `fedgate_ldap_operations_total{dc="ldaps://b:636",op="bind"} 1`,
      `fedgate_ldap_operations_total{dc="ldaps://a:636",op="search"} ${String(search)}`,
      `fedgate_ldap_operations_total{op="tracking_search",dc="ldaps://a:636"} ${String(tracking)}`,
      'fedgate_ldap_operations_totally{op="bind"} 99',
      'fedgate_directory_errors_total{reason="error"} 5',
    ].join('\n');

  test('sums every DC per op; other metrics ignored', () => {
    assert.deepEqual(ldapOperations(text(10, 4, 7)), {
      bind: 11,
      search: 4,
      tracking_search: 7,
    });
  });

  test('the delta keeps the change tracker apart and drops unchanged ops', () => {
    const d = operationDelta(ldapOperations(text(10, 4, 7)), ldapOperations(text(20, 4, 9)));
    assert.deepEqual(d.signIn, { bind: 10 });
    assert.deepEqual(d.tracking, { tracking_search: 2 });
  });

  test('an op first seen after the start counts from zero', () => {
    const d = operationDelta({ bind: 3 }, { bind: 5, connect: 2, tracking_bind: 1 });
    assert.deepEqual(d.signIn, { bind: 2, connect: 2 });
    assert.deepEqual(d.tracking, { tracking_bind: 1 });
  });
});

describe('the seeded directory (bench/seed-groups.ts)', () => {
  test('every user is in 1 to 3 distinct groups, all of them in range', () => {
    for (let i = 0; i < 10_000; i++) {
      for (const salt of [0, 1]) {
        const g = groupsOfUser(i, salt);
        assert.ok(g.length >= 1 && g.length <= 3);
        assert.equal(new Set(g).size, g.length);
        for (const x of g) assert.ok(Number.isInteger(x) && x >= 0 && x < 2000);
      }
    }
  });

  test('nesting always points at a lower group, so children can be added before parents', () => {
    for (let g = 0; g < 2000; g++) {
      const p = parentOf(g);
      if (p !== undefined) assert.ok(p < g && Number.isInteger(p));
    }
  });
});
