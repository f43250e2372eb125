// SPDX-License-Identifier: GPL-2.0

//! `rxe-ckpt`: the command line of rxe-rs's checkpointer.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rxe_ckpt::{process::Process, show, uverbs::Uverbs, Error, Result};

/// Stops, resumes and inspects the RDMA state of processes on rxe-rs
/// devices (live migration; see docs/migration.md).
#[derive(Parser)]
#[command(name = "rxe-ckpt", version)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Stop the QPs of a process: they send nothing, and peers that speak
    /// the extension pause (their timers parked, no retries spent).
    Pause {
        /// The process.
        #[arg(long)]
        pid: i32,
    },
    /// Resume the stopped QPs of a process: each tells its peer, and sends
    /// again from its oldest unacknowledged packet.
    Resume {
        /// The process.
        #[arg(long)]
        pid: i32,
    },
    /// What a device can host, and where its numbers stand.
    Query {
        /// The RDMA device (rxe-rs).
        #[arg(long)]
        device: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Set the numbers the next QP and MR of a device take.
    SetNext {
        /// The RDMA device (rxe-rs).
        #[arg(long)]
        device: String,
        /// The next QP number (decimal, or hex with 0x).
        #[arg(long, value_parser = number)]
        qpn: Option<u32>,
        /// The next MR index (the key's upper 24 bits; decimal, or hex with
        /// 0x).
        #[arg(long, value_parser = number)]
        mrn: Option<u32>,
    },
    /// Stop the QPs of a process and write its checkpoint image (the QPs
    /// stay stopped unless --leave-running).
    Dump {
        /// The process.
        #[arg(long)]
        pid: i32,
        /// The image file [default: rxe-PID.img].
        #[arg(short, long)]
        output: Option<std::path::PathBuf>,
        /// Resume the QPs once the image is taken.
        #[arg(long)]
        leave_running: bool,
    },
    /// Restore a checkpoint image of a process into that same process, on
    /// another rxe-rs device (or the same one), and resume its QPs.
    Restore {
        /// The process (whose QPs the dump left stopped).
        #[arg(long)]
        pid: i32,
        /// The destination RDMA device (rxe-rs).
        #[arg(long)]
        to: String,
        /// The source address the restored connections take on the
        /// destination (for its family; default: the device's first).
        #[arg(long)]
        addr: Option<std::net::IpAddr>,
        /// The image file.
        image: std::path::PathBuf,
    },
    /// Move the RDMA state of a running process to another rxe-rs device
    /// (dump and restore in one); if it fails, the process goes on where it
    /// was.
    Move {
        /// The process.
        #[arg(long)]
        pid: i32,
        /// The destination RDMA device (rxe-rs).
        #[arg(long)]
        to: String,
        /// The source address the moved connections take on the
        /// destination (for its family; default: the device's first).
        #[arg(long)]
        addr: Option<std::net::IpAddr>,
    },
    /// Say whether a device can host a checkpoint image (exit status 0),
    /// or why not (1).
    Check {
        /// The image file.
        image: std::path::PathBuf,
        /// The RDMA device (rxe-rs).
        #[arg(long)]
        device: String,
    },
    /// Decode a checkpoint image, checking it whole.
    Show {
        /// The image file.
        image: std::path::PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// A number in decimal, or in hex with `0x`.
fn number(s: &str) -> core::result::Result<u32, String> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => s.parse(),
    };
    r.map_err(|e| format!("{s}: {e}"))
}

fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Pause { pid } => {
            let p = Process::open(pid)?;
            let n = rxe_ckpt::pause(&p)?;
            println!("process {pid}: {n} QPs stopped");
        }
        Cmd::Resume { pid } => {
            let n = rxe_ckpt::resume(&Process::open(pid)?)?;
            println!("process {pid}: {n} QPs resumed");
        }
        Cmd::Query { device, json } => {
            let q = Uverbs::open_device(&device)?.query()?;
            if json {
                println!(
                    "{{\"device\":\"{}\",\"uapi_version\":{},\"image_version\":{},\"next_qpn\":{},\"next_mrn\":{}}}",
                    show::json_escape(&device),
                    q.uapi_version,
                    q.image_version,
                    q.next_qpn,
                    q.next_mrn
                );
            } else {
                println!(
                    "{device}: uapi {} image {} next_qpn {} next_mrn {}",
                    q.uapi_version, q.image_version, q.next_qpn, q.next_mrn
                );
            }
        }
        Cmd::SetNext { device, qpn, mrn } => {
            if qpn.is_none() && mrn.is_none() {
                return Err(Error::Usage("set-next: give --qpn, --mrn or both".into()));
            }
            Uverbs::open_device(&device)?.set_next(qpn, mrn)?;
        }
        Cmd::Dump {
            pid,
            output,
            leave_running,
        } => {
            let p = Process::open(pid)?;
            let d = rxe_ckpt::dump(&p, leave_running)?;
            let path = output.unwrap_or_else(|| format!("rxe-{pid}.img").into());
            if let Err(e) = std::fs::write(&path, &d.image) {
                if !leave_running {
                    // Nothing kept: the process goes on as it was.
                    let _ = rxe_ckpt::resume(&p);
                }
                return Err(Error::Sys(format!("write {}", path.display()), e));
            }
            let state = if leave_running { "resumed" } else { "stopped" };
            println!(
                "process {pid} fd {}: {} bytes to {} ({} QPs {state})",
                d.fd,
                d.image.len(),
                path.display(),
                d.stopped
            );
        }
        Cmd::Restore {
            pid,
            to,
            addr,
            image,
        } => {
            let bytes = std::fs::read(&image)
                .map_err(|e| Error::Sys(format!("read {}", image.display()), e))?;
            let r = rxe_ckpt::restore(&Process::open(pid)?, &bytes, &to, addr)?;
            print_restored(pid, &to, &r);
        }
        Cmd::Move { pid, to, addr } => {
            let r = rxe_ckpt::move_to(&Process::open(pid)?, &to, addr)?;
            print_restored(pid, &to, &r);
        }
        Cmd::Check { image, device } => {
            let bytes = std::fs::read(&image)
                .map_err(|e| Error::Sys(format!("read {}", image.display()), e))?;
            let why = rxe_ckpt::check(&bytes, &device)?;
            if why.is_empty() {
                println!("{}: {device} can host it", image.display());
            } else {
                for w in &why {
                    println!("{}: {w}", image.display());
                }
                return Err(Error::Usage(format!(
                    "{device} cannot host {}",
                    image.display()
                )));
            }
        }
        Cmd::Show { image, json } => {
            let bytes = std::fs::read(&image)
                .map_err(|e| Error::Sys(format!("read {}", image.display()), e))?;
            let out = if json {
                show::json(&bytes)?
            } else {
                show::text(&bytes)?
            };
            print!("{out}");
        }
    }
    Ok(())
}

/// What a restore says it did.
fn print_restored(pid: i32, to: &str, r: &rxe_ckpt::restore::Restored) {
    let stopped = r
        .stopped
        .map(|d| format!(", stopped {} ms", d.as_millis()))
        .unwrap_or_default();
    println!(
        "process {pid}: {} objects on {to}, {} QPs resumed (image {} bytes{stopped})",
        r.objects, r.qps, r.image_bytes
    );
    for (old, new) in &r.new_qpns {
        println!("process {pid}: QP {old:#x} is now {new:#x} (its peer was told)");
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rxe-ckpt: {e}");
            ExitCode::FAILURE
        }
    }
}
