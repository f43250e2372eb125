// SPDX-License-Identifier: GPL-2.0

//! Code addresses to names, from a copy of the guest's `/proc/kallsyms`
//! (read as root, so that it holds real addresses). Module code moves each
//! time a module is loaded, so the copy must be taken while the modules of
//! the profiled run are loaded.

/// One text symbol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Symbol {
    /// Start address.
    pub addr: u64,
    /// Its name.
    pub name: String,
    /// The module it belongs to, `kernel` for the kernel image.
    pub module: String,
}

/// Text symbols in address order.
pub struct Symbols {
    syms: Vec<Symbol>,
}

impl Symbols {
    /// Parses kallsyms text (`ADDRESS TYPE NAME [MODULE]` lines), keeping
    /// the text symbols (types t, T, w and W).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut syms = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let mut f = line.split_whitespace();
            let (Some(addr), Some(kind), Some(name)) = (f.next(), f.next(), f.next()) else {
                return Err(format!("kallsyms line {}: '{line}'", i + 1));
            };
            if !matches!(kind, "t" | "T" | "w" | "W") {
                continue;
            }
            let addr = u64::from_str_radix(addr, 16)
                .map_err(|_| format!("kallsyms line {}: '{line}'", i + 1))?;
            let module = f
                .next()
                .map(|m| m.trim_start_matches('[').trim_end_matches(']').to_string())
                .unwrap_or_else(|| "kernel".to_string());
            syms.push(Symbol {
                addr,
                name: name.to_string(),
                module,
            });
        }
        if syms.iter().all(|s| s.addr == 0) {
            return Err("kallsyms holds no addresses (read as an unprivileged user?)".to_string());
        }
        syms.sort_by_key(|s| s.addr);
        Ok(Symbols { syms })
    }

    /// The symbol `addr` is in: the last one starting at or below it.
    pub fn lookup(&self, addr: u64) -> Option<&Symbol> {
        let i = self.syms.partition_point(|s| s.addr <= addr);
        i.checked_sub(1).and_then(|i| self.syms.get(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
ffffffff81000000 T _text
ffffffff81000100 t helper
ffffffff81000200 D some_data
ffffffffc0001000 t rxe_rs_send\t[rdma_rxe_rs]
ffffffffc0002000 T rxe_rs_recv\t[rdma_rxe_rs]
";

    #[test]
    fn lookup_names_the_enclosing_symbol() {
        let s = Symbols::parse(TEXT).unwrap();
        assert_eq!(s.lookup(0xffff_ffff_8000_0000), None);
        assert_eq!(s.lookup(0xffff_ffff_8100_0000).unwrap().name, "_text");
        let h = s.lookup(0xffff_ffff_8100_0250).unwrap();
        assert_eq!(
            (h.name.as_str(), h.module.as_str()),
            ("helper", "kernel"),
            "data symbols are skipped"
        );
        let r = s.lookup(0xffff_ffff_c000_1fff).unwrap();
        assert_eq!(
            (r.name.as_str(), r.module.as_str()),
            ("rxe_rs_send", "rdma_rxe_rs")
        );
        assert_eq!(s.lookup(0xffff_ffff_c000_2000).unwrap().name, "rxe_rs_recv");
    }

    #[test]
    fn refuses_bad_or_hidden_kallsyms() {
        assert!(Symbols::parse("zz T x\n").is_err());
        assert!(Symbols::parse("ffff\n").is_err());
        assert!(Symbols::parse("0000000000000000 T _text\n0000000000000000 t a\n").is_err());
    }
}
