// SPDX-License-Identifier: GPL-2.0

//! tcgprof-report: one run's guest kernel instructions, by module and by
//! function.
//!
//!   tcgprof-report KALLSYMS BEFORE AFTER [MESSAGES] [TOP]
//!
//! KALLSYMS is the guest's /proc/kallsyms taken during the run; BEFORE and
//! AFTER are the plugin's snapshots around it; MESSAGES (optional, 0 for
//! none) the messages the run carried; TOP (default 25) how many functions
//! to list.

use std::process::ExitCode;

use tcgprof::{report, snapshot, symbols::Symbols};

fn read(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))
}

fn run(args: &[String]) -> Result<String, String> {
    let [kallsyms, before, after, rest @ ..] = args else {
        return Err("usage: tcgprof-report KALLSYMS BEFORE AFTER [MESSAGES] [TOP]".to_string());
    };
    let num = |i: usize, what: &str| -> Result<Option<u64>, String> {
        rest.get(i)
            .map(|s| {
                s.parse::<u64>()
                    .map_err(|_| format!("{what} must be a number, got '{s}'"))
            })
            .transpose()
    };
    let messages = num(0, "MESSAGES")?.filter(|m| *m > 0);
    let top = num(1, "TOP")?.unwrap_or(25);
    let syms = Symbols::parse(&read(kallsyms)?).map_err(|e| format!("{kallsyms}: {e}"))?;
    let a = snapshot::parse(&read(before)?).map_err(|e| format!("{before}: {e}"))?;
    let b = snapshot::parse(&read(after)?).map_err(|e| format!("{after}: {e}"))?;
    let ran = snapshot::diff(&a, &b)?;
    let top = usize::try_from(top).unwrap_or(usize::MAX);
    Ok(report::build(&ran, &syms).render(top, messages))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tcgprof-report: {e}");
            ExitCode::FAILURE
        }
    }
}
