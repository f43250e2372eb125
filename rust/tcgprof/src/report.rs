// SPDX-License-Identifier: GPL-2.0

//! The report: the instructions of one run, summed by module and by
//! function, largest first, and per message when the run says how many
//! messages it carried.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::snapshot::Counts;
use crate::symbols::Symbols;

/// Instructions summed under one name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// `function [module]`, or a module's name.
    pub name: String,
    /// Instructions.
    pub insns: u64,
}

/// One run's instructions, summed.
#[derive(Debug)]
pub struct Report {
    /// All of them.
    pub total: u64,
    /// By module, largest first.
    pub modules: Vec<Line>,
    /// By function, largest first.
    pub functions: Vec<Line>,
}

/// Name for code outside every known symbol.
const UNKNOWN: &str = "?";

fn sorted(map: HashMap<String, u64>) -> Vec<Line> {
    let mut v: Vec<Line> = map
        .into_iter()
        .map(|(name, insns)| Line { name, insns })
        .collect();
    v.sort_by(|a, b| b.insns.cmp(&a.insns).then_with(|| a.name.cmp(&b.name)));
    v
}

/// Sums `counts` (what ran) by the symbols the addresses fall in.
pub fn build(counts: &Counts, syms: &Symbols) -> Report {
    let mut modules: HashMap<String, u64> = HashMap::new();
    let mut functions: HashMap<String, u64> = HashMap::new();
    let mut total = 0u64;
    for (addr, n) in counts {
        total = total.saturating_add(*n);
        let (func, module) = match syms.lookup(*addr) {
            Some(s) => (format!("{} [{}]", s.name, s.module), s.module.clone()),
            None => (UNKNOWN.to_string(), UNKNOWN.to_string()),
        };
        *modules.entry(module).or_default() += n;
        *functions.entry(func).or_default() += n;
    }
    Report {
        total,
        modules: sorted(modules),
        functions: sorted(functions),
    }
}

impl Report {
    /// The report as text: totals, every module, the `top` largest
    /// functions; with `messages`, each figure per message too.
    pub fn render(&self, top: usize, messages: Option<u64>) -> String {
        let mut out = String::new();
        let per = |n: u64| match messages {
            Some(m) if m > 0 => format!("{:>12.1}", n as f64 / m as f64),
            _ => format!("{:>12}", "-"),
        };
        let pct = |n: u64| {
            if self.total > 0 {
                100.0 * n as f64 / self.total as f64
            } else {
                0.0
            }
        };
        // Writing to a String cannot fail.
        let _ = writeln!(out, "guest kernel instructions: {}", self.total);
        if let Some(m) = messages {
            let _ = writeln!(
                out,
                "messages: {m}; per message: {}",
                per(self.total).trim()
            );
        }
        let tables = [
            ("module", &self.modules[..]),
            (
                "function [module]",
                &self.functions[..top.min(self.functions.len())],
            ),
        ];
        for (what, lines) in tables {
            let _ = writeln!(
                out,
                "{:>14} {:>6} {:>12}  {what}",
                "instructions", "%", "per message"
            );
            for l in lines {
                let _ = writeln!(
                    out,
                    "{:>14} {:>6.2} {}  {}",
                    l.insns,
                    pct(l.insns),
                    per(l.insns),
                    l.name
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_by_function_and_module() {
        let syms = Symbols::parse(
            "ffffffff81000000 T memcpy\nffffffff81000100 T schedule\nffffffffc0000000 t send\t[rdma_rxe_rs]\n",
        )
        .unwrap();
        let counts: Counts = [
            (0xffff_ffff_8000_0000, 1),  // below every symbol
            (0xffff_ffff_8100_0000, 10), // memcpy
            (0xffff_ffff_8100_0040, 30), // memcpy, another block
            (0xffff_ffff_8100_0100, 5),  // schedule
            (0xffff_ffff_c000_0010, 40), // send
        ]
        .into();
        let r = build(&counts, &syms);
        assert_eq!(r.total, 86);
        assert_eq!(
            r.modules,
            vec![
                Line {
                    name: "kernel".into(),
                    insns: 45
                },
                Line {
                    name: "rdma_rxe_rs".into(),
                    insns: 40
                },
                Line {
                    name: UNKNOWN.into(),
                    insns: 1
                },
            ]
        );
        assert_eq!(
            r.functions.first(),
            Some(&Line {
                name: "memcpy [kernel]".into(),
                insns: 40
            })
        );
        assert_eq!(
            r.functions.get(1),
            Some(&Line {
                name: "send [rdma_rxe_rs]".into(),
                insns: 40
            })
        );
        let text = r.render(2, Some(2));
        assert!(text.contains("per message: 43.0"), "{text}");
        assert!(text.contains("memcpy [kernel]"), "{text}");
        assert!(
            !text.contains("schedule"),
            "only the top 2 functions: {text}"
        );
    }
}
