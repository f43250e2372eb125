// SPDX-License-Identifier: GPL-2.0

//! An in-place sort for code shared with the kernel: heapsort, O(n log n)
//! with no allocation, no recursion and no panic path (core's slice sorts
//! end in panics on inconsistent orders, which the kernel's objtool does
//! not know as dead ends).

/// Sorts `v` by `key`, not stably.
pub fn sort_by_key<T, K: Ord>(v: &mut [T], key: impl Fn(&T) -> K) {
    let n = v.len();
    for start in (0..n / 2).rev() {
        sift_down(v, start, n, &key);
    }
    for end in (1..n).rev() {
        v.swap(0, end);
        sift_down(v, 0, end, &key);
    }
}

/// Moves `v[root]` down the heap of `v[..end]` to its place.
fn sift_down<T, K: Ord>(v: &mut [T], mut root: usize, end: usize, key: &impl Fn(&T) -> K) {
    loop {
        let Some(mut child) = root.checked_mul(2).and_then(|c| c.checked_add(1)) else {
            return;
        };
        if child >= end {
            return;
        }
        let right = child + 1;
        if right < end {
            if let (Some(l), Some(r)) = (v.get(child), v.get(right)) {
                if key(l) < key(r) {
                    child = right;
                }
            }
        }
        match (v.get(root), v.get(child)) {
            (Some(a), Some(b)) if key(a) < key(b) => {
                v.swap(root, child);
                root = child;
            }
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts() {
        let mut seed = 0x1234_5678u32;
        for n in [0usize, 1, 2, 3, 7, 64, 1000] {
            let mut v: Vec<u32> = (0..n)
                .map(|_| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    seed >> 16
                })
                .collect();
            let mut want = v.clone();
            want.sort_unstable();
            sort_by_key(&mut v, |x| *x);
            assert_eq!(v, want, "n = {n}");
        }
        let mut pairs = [(3, 'a'), (1, 'b'), (2, 'c'), (1, 'd')];
        sort_by_key(&mut pairs, |p| p.0);
        assert_eq!(pairs.map(|p| p.0), [1, 1, 2, 3]);
    }
}
