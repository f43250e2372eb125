// SPDX-License-Identifier: GPL-2.0

//! Running system calls inside a stopped process (x86-64): a restore's
//! uverbs file must be opened, and its objects made, by the process
//! itself, so that the file's credentials are the process's own (the
//! kernel's `write()` commands refuse a file used under other
//! credentials). Every thread is seized and stopped for as long as the
//! [`Tracee`] lives; the leader runs the calls, at a `syscall` instruction
//! of the vDSO, with every signal blocked meanwhile, and its registers and
//! signal mask put back afterwards (an interrupted system call restarts as
//! it would after any stop; signals that came wait until then).

use std::{fs, io};

use crate::{Error, Result};

/// A process stopped under our trace.
pub struct Tracee {
    pid: i32,
    /// The threads we seized (the leader first).
    tids: Vec<i32>,
    /// The leader's registers when it stopped.
    saved: libc::user_regs_struct,
    /// A `syscall` instruction in the process.
    syscall_at: u64,
    /// Signals that stopped a thread before our interrupt did, or while
    /// it ran our calls: delivered at the detach.
    signals: core::cell::RefCell<Vec<(i32, i32)>>,
    /// Traced by us before we came (CRIU's restored task): left traced.
    adopted: bool,
    /// The leader's signal mask when it stopped: every signal is blocked
    /// while it runs our calls, and this put back after.
    mask: Option<u64>,
}

/// `PTRACE_EVENT_STOP`: the stop `PTRACE_INTERRUPT` causes.
const EVENT_STOP: i32 = 128;

fn ptrace(req: libc::c_uint, tid: i32, addr: usize, data: usize) -> io::Result<libc::c_long> {
    // SAFETY: The requests used here take an integer or a pointer to a
    // live buffer of the size the request implies, passed by the callers.
    let r = unsafe { libc::ptrace(req, tid, addr, data) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(r)
}

/// Waits for thread `tid` to stop; returns the wait status.
fn wait_stop(tid: i32) -> io::Result<i32> {
    let mut status = 0;
    loop {
        // SAFETY: `status` is a live int.
        let r = unsafe { libc::waitpid(tid, &mut status, libc::__WALL) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(e);
        }
        if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
            return Err(io::Error::from_raw_os_error(libc::ESRCH));
        }
        if libc::WIFSTOPPED(status) {
            return Ok(status);
        }
    }
}

impl Tracee {
    /// Seizes and stops every thread of `pid`.
    pub fn attach(pid: i32) -> Result<Self> {
        let mut t = Tracee::new(pid, Vec::new(), false);
        // Threads may come while we seize: go round until none is new.
        loop {
            let mut new = false;
            for tid in threads(pid)? {
                if t.tids.contains(&tid) {
                    continue;
                }
                ptrace(libc::PTRACE_SEIZE, tid, 0, 0)
                    .and_then(|_| ptrace(libc::PTRACE_INTERRUPT, tid, 0, 0))
                    .map_err(|e| trace_err(pid, e))?;
                t.tids.push(tid);
                new = true;
            }
            if !new {
                break;
            }
        }
        for i in 0..t.tids.len() {
            let tid = t.tids[i];
            loop {
                let status = wait_stop(tid).map_err(|e| trace_err(pid, e))?;
                if status >> 16 == EVENT_STOP {
                    break;
                }
                // A signal came first: keep it for the detach, and go on
                // to the interrupt's stop.
                t.signals.get_mut().push((tid, libc::WSTOPSIG(status)));
                ptrace(libc::PTRACE_CONT, tid, 0, 0).map_err(|e| trace_err(pid, e))?;
            }
        }
        t.tids.sort_by_key(|&tid| tid != pid);
        if t.tids.first() != Some(&pid) {
            return Err(Error::NoProcess(pid));
        }
        t.ready()
    }

    fn new(pid: i32, tids: Vec<i32>, adopted: bool) -> Self {
        Tracee {
            pid,
            tids,
            // SAFETY: Plain data.
            saved: unsafe { core::mem::zeroed() },
            syscall_at: 0,
            signals: core::cell::RefCell::new(Vec::new()),
            adopted,
            mask: None,
        }
    }

    /// With every thread stopped: the leader's registers kept, a
    /// `syscall` instruction found, its signals blocked.
    fn ready(mut self) -> Result<Self> {
        self.saved = restartable(self.regs()?);
        self.syscall_at = find_syscall(self.pid)?;
        self.block_signals()?;
        Ok(self)
    }

    /// Blocks every signal of the leader while it runs our calls: a
    /// process's own signals (a timer's, every millisecond) would otherwise
    /// stop each step before the call, faster than a slow kernel steps.
    /// They stay pending, and come once the mask is put back.
    fn block_signals(&mut self) -> Result<()> {
        let mut old = 0u64;
        ptrace(
            libc::PTRACE_GETSIGMASK,
            self.pid,
            core::mem::size_of::<u64>(),
            &mut old as *mut u64 as usize,
        )
        .map_err(|e| trace_err(self.pid, e))?;
        let all = u64::MAX;
        ptrace(
            libc::PTRACE_SETSIGMASK,
            self.pid,
            core::mem::size_of::<u64>(),
            &all as *const u64 as usize,
        )
        .map_err(|e| trace_err(self.pid, e))?;
        self.mask = Some(old);
        Ok(())
    }

    /// A process whose every thread this process traces already, each in
    /// a ptrace stop: a task CRIU restored, at its RESUME_DEVICES_LATE
    /// hook (CRIU seized it; its plugins run in CRIU's thread that did).
    /// Dropped, it is left traced and stopped, its registers put back, for
    /// its tracer to detach; signals that came meanwhile are queued to it.
    pub fn adopt(pid: i32) -> Result<Self> {
        let mut tids = threads(pid)?;
        tids.sort_by_key(|&tid| tid != pid);
        if tids.first() != Some(&pid) {
            return Err(Error::NoProcess(pid));
        }
        Tracee::new(pid, tids, true).ready()
    }

    fn regs(&self) -> Result<libc::user_regs_struct> {
        // SAFETY: Plain data.
        let mut r: libc::user_regs_struct = unsafe { core::mem::zeroed() };
        ptrace(libc::PTRACE_GETREGS, self.pid, 0, &mut r as *mut _ as usize)
            .map_err(|e| trace_err(self.pid, e))?;
        Ok(r)
    }

    fn set_regs(&self, r: &libc::user_regs_struct) -> Result<()> {
        ptrace(libc::PTRACE_SETREGS, self.pid, 0, r as *const _ as usize)
            .map_err(|e| trace_err(self.pid, e))?;
        Ok(())
    }

    /// Runs system call `nr` with `args` in the process; its result (a
    /// negative errno on failure, as the kernel returns it).
    pub fn syscall(&self, nr: libc::c_long, args: &[u64]) -> Result<i64> {
        let mut r = self.saved;
        r.rax = nr as u64;
        // No restart of whatever the thread was in: this is a new call.
        r.orig_rax = u64::MAX;
        r.rip = self.syscall_at;
        let a = |i: usize| args.get(i).copied().unwrap_or(0);
        (r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9) = (a(0), a(1), a(2), a(3), a(4), a(5));
        self.set_regs(&r)?;
        let mut status = self.step()?;
        // The step may stop elsewhere first: a signal that came for the
        // process (a timer's SIGALRM; kept, and delivered at the detach),
        // or its group-stop or our interrupt (a process stopped by
        // SIGSTOP). Until the call has run, step again; a call a signal
        // interrupted is made again.
        for _ in 0..16 {
            let regs = self.regs()?;
            let ran = regs.rip == self.syscall_at.wrapping_add(2);
            let trap = status >> 16 == 0 && libc::WSTOPSIG(status) == libc::SIGTRAP;
            if ran && (trap || !restarts(regs.rax)) {
                return Ok(regs.rax as i64);
            }
            if status >> 16 == 0 && !trap {
                self.keep_signal(libc::WSTOPSIG(status));
            }
            if ran {
                self.set_regs(&r)?;
            } else if regs.rip != self.syscall_at {
                break;
            }
            status = self.step()?;
        }
        Err(Error::Usage(format!(
            "process {}: it did not run a call for the restore (stopped by signal {})",
            self.pid,
            libc::WSTOPSIG(status)
        )))
    }

    /// Keeps signal `sig`, which stopped the leader while it ran our
    /// calls, for the detach.
    fn keep_signal(&self, sig: i32) {
        if !self.signals.borrow().contains(&(self.pid, sig)) {
            self.signals.borrow_mut().push((self.pid, sig));
        }
    }

    /// One single step of the leader; its stop's wait status.
    fn step(&self) -> Result<i32> {
        ptrace(libc::PTRACE_SINGLESTEP, self.pid, 0, 0).map_err(|e| trace_err(self.pid, e))?;
        wait_stop(self.pid).map_err(|e| trace_err(self.pid, e))
    }

    /// [`Tracee::syscall`], with a failure as an error about `what`.
    pub fn call(&self, what: &str, nr: libc::c_long, args: &[u64]) -> Result<u64> {
        let r = self.syscall(nr, args)?;
        if (-4095..0).contains(&r) {
            return Err(Error::sys(
                format!("process {}: {what}", self.pid),
                io::Error::from_raw_os_error(-r as i32),
            ));
        }
        Ok(r as u64)
    }

    /// Writes `data` at `addr` in the process (through its `/proc` memory
    /// file, which its tracer may write).
    pub fn write(&self, addr: u64, data: &[u8]) -> Result<()> {
        use std::os::unix::fs::FileExt;
        self.mem()?
            .write_all_at(data, addr)
            .map_err(|e| Error::sys(format!("write the memory of process {}", self.pid), e))
    }

    /// Reads `out.len()` bytes at `addr` in the process.
    pub fn read(&self, addr: u64, out: &mut [u8]) -> Result<()> {
        use std::os::unix::fs::FileExt;
        self.mem()?
            .read_exact_at(out, addr)
            .map_err(|e| Error::sys(format!("read the memory of process {}", self.pid), e))
    }

    fn mem(&self) -> Result<fs::File> {
        fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(format!("/proc/{}/mem", self.pid))
            .map_err(|e| Error::sys(format!("open the memory of process {}", self.pid), e))
    }
}

impl Drop for Tracee {
    fn drop(&mut self) {
        let saved = self.saved;
        let _ = self.set_regs(&saved);
        if let Some(mask) = self.mask {
            let _ = ptrace(
                libc::PTRACE_SETSIGMASK,
                self.pid,
                core::mem::size_of::<u64>(),
                &mask as *const u64 as usize,
            );
        }
        let signals = self.signals.get_mut();
        if self.adopted {
            for &(tid, sig) in signals.iter() {
                // SAFETY: tgkill(pid, tid, sig): no pointers.
                unsafe { libc::syscall(libc::SYS_tgkill, self.pid, tid, sig) };
            }
            return;
        }
        for &tid in &self.tids {
            // The first signal a thread had goes with its detach; any other
            // is queued to it first.
            let mut kept = signals.iter().filter(|(t, _)| *t == tid).map(|&(_, s)| s);
            let first = kept.next();
            for sig in kept {
                // SAFETY: tgkill(pid, tid, sig): no pointers.
                unsafe { libc::syscall(libc::SYS_tgkill, self.pid, tid, sig) };
            }
            let _ = ptrace(libc::PTRACE_DETACH, tid, 0, first.map_or(0, |s| s as usize));
        }
    }
}

/// The leader's registers as they are to be put back. A thread stopped in
/// a system call that the stop interrupted would have the kernel restart
/// the call when it goes on; once it has run our calls, that restart is
/// lost (the call would return `-ERESTARTSYS` to the program): so the
/// registers are put back at the call itself, to make it again.
fn restartable(mut r: libc::user_regs_struct) -> libc::user_regs_struct {
    if (r.orig_rax as i64) < 0 {
        return r;
    }
    let nr = match -(r.rax as i64) {
        ERESTARTSYS | ERESTARTNOINTR | ERESTARTNOHAND => r.orig_rax,
        ERESTART_RESTARTBLOCK => libc::SYS_restart_syscall as u64,
        _ => return r,
    };
    // Back over the 2-byte `syscall` instruction.
    r.rax = nr;
    r.rip = r.rip.wrapping_sub(2);
    r.orig_rax = u64::MAX;
    r
}

/// The kernel's restart codes: a call returning one was interrupted, and
/// is to be made again.
const ERESTARTSYS: i64 = 512;
const ERESTARTNOINTR: i64 = 513;
const ERESTARTNOHAND: i64 = 514;
const ERESTART_RESTARTBLOCK: i64 = 516;

/// Whether `rax` after a system call is one of the restart codes.
fn restarts(rax: u64) -> bool {
    matches!(
        -(rax as i64),
        ERESTARTSYS | ERESTARTNOINTR | ERESTARTNOHAND | ERESTART_RESTARTBLOCK
    )
}

/// The threads of `pid`.
fn threads(pid: i32) -> Result<Vec<i32>> {
    let dir = format!("/proc/{pid}/task");
    let entries = fs::read_dir(&dir).map_err(|_| Error::NoProcess(pid))?;
    Ok(entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect())
}

fn trace_err(pid: i32, e: io::Error) -> Error {
    match e.raw_os_error() {
        Some(libc::ESRCH) => Error::NoProcess(pid),
        _ => Error::sys(format!("trace process {pid}"), e),
    }
}

/// A `syscall` instruction (0f 05) in the process's vDSO.
fn find_syscall(pid: i32) -> Result<u64> {
    let maps =
        fs::read_to_string(format!("/proc/{pid}/maps")).map_err(|_| Error::NoProcess(pid))?;
    let line = maps
        .lines()
        .find(|l| l.ends_with("[vdso]"))
        .ok_or_else(|| Error::Usage(format!("process {pid} has no vDSO")))?;
    let (start, end) = map_range(line).ok_or_else(|| Error::Usage("bad maps line".into()))?;
    let mut code = vec![0u8; (end - start) as usize];
    {
        use std::os::unix::fs::FileExt;
        let mem = fs::File::open(format!("/proc/{pid}/mem"))
            .map_err(|e| Error::sys(format!("open the memory of process {pid}"), e))?;
        mem.read_exact_at(&mut code, start)
            .map_err(|e| Error::sys(format!("read the vDSO of process {pid}"), e))?;
    }
    code.windows(2)
        .position(|w| w == [0x0f, 0x05])
        .map(|i| start + i as u64)
        .ok_or_else(|| {
            Error::Usage(format!(
                "no syscall instruction in the vDSO of process {pid}"
            ))
        })
}

/// The address range of a `/proc/PID/maps` line.
pub fn map_range(line: &str) -> Option<(u64, u64)> {
    let range = line.split_whitespace().next()?;
    let (a, b) = range.split_once('-')?;
    Some((
        u64::from_str_radix(a, 16).ok()?,
        u64::from_str_radix(b, 16).ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_line() {
        let l = "7ffd1c5f2000-7ffd1c5f4000 r-xp 00000000 00:00 0                          [vdso]";
        assert_eq!(map_range(l), Some((0x7ffd1c5f2000, 0x7ffd1c5f4000)));
        assert_eq!(map_range("garbage"), None);
    }

    #[test]
    fn interrupted_calls_restart() {
        // SAFETY: Plain data.
        let mut r: libc::user_regs_struct = unsafe { core::mem::zeroed() };
        r.orig_rax = libc::SYS_read as u64;
        r.rax = (-512i64) as u64;
        r.rip = 0x1002;
        let b = restartable(r);
        assert_eq!(
            (b.rax, b.rip, b.orig_rax),
            (libc::SYS_read as u64, 0x1000, u64::MAX)
        );
        r.rax = 5;
        assert_eq!(restartable(r).rip, 0x1002, "a finished call stays finished");
    }

    /// A child blocked in read() when we run calls in it reads what comes
    /// after we let go: its read is made again, not failed.
    #[test]
    fn blocked_read_goes_on() {
        let mut fds = [0i32; 2];
        // SAFETY: A two-int array.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: fork in a test; the child only reads and exits.
        let child = unsafe { libc::fork() };
        if child == 0 {
            let mut b = [0u8; 1];
            // SAFETY: Plain calls in the child.
            unsafe {
                let n = libc::read(fds[0], b.as_mut_ptr().cast(), 1);
                libc::_exit(if n == 1 { i32::from(b[0]) } else { 99 });
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
        match Tracee::attach(child) {
            Ok(t) => {
                assert_eq!(t.syscall(libc::SYS_getpid, &[]).unwrap(), i64::from(child));
                drop(t);
            }
            Err(Error::Privilege(_)) => {}
            Err(e) => panic!("{e}"),
        }
        // SAFETY: Our pipe.
        assert_eq!(unsafe { libc::write(fds[1], b"*".as_ptr().cast(), 1) }, 1);
        let mut status = 0;
        // SAFETY: Our child.
        unsafe { libc::waitpid(child, &mut status, 0) };
        assert!(libc::WIFEXITED(status), "{status:#x}");
        assert_eq!(libc::WEXITSTATUS(status), i32::from(b'*'));
    }

    /// Runs a call inside a child of ours: getpid there answers its pid,
    /// and it goes on unharmed afterwards.
    #[test]
    fn syscall_in_a_child() {
        // SAFETY: fork in a test; the child only loops and exits.
        let child = unsafe { libc::fork() };
        if child == 0 {
            // SAFETY: Plain calls in the child.
            unsafe {
                libc::sleep(2);
                libc::_exit(7);
            }
        }
        let t = match Tracee::attach(child) {
            Ok(t) => t,
            // Not allowed to trace here (a restricted container): nothing
            // to test.
            Err(Error::Privilege(_)) => return,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(t.syscall(libc::SYS_getpid, &[]).unwrap(), i64::from(child));
        let page = t
            .call(
                "mmap",
                libc::SYS_mmap,
                &[
                    0,
                    4096,
                    3,
                    (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as u64,
                    u64::MAX,
                    0,
                ],
            )
            .unwrap();
        t.write(page, b"hello").unwrap();
        let mut back = [0u8; 5];
        t.read(page, &mut back).unwrap();
        assert_eq!(&back, b"hello");
        assert!(t.call("close", libc::SYS_close, &[9999]).is_err());
        drop(t);
        let mut status = 0;
        // SAFETY: Our child.
        unsafe { libc::waitpid(child, &mut status, 0) };
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 7,
            "{status:#x}"
        );
    }
}
