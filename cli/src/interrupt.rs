//! Interrupts for the whole run. SIGINT (Ctrl-C) and SIGTERM (what CI runners and `kill`
//! send) are caught from the moment a command starts, also when eksmgr was started with
//! SIGINT ignored (as a shell starts a background job), and what they do depends on how far
//! the run is:
//!
//! - before an apply's first operation (reading the configuration and AWS, planning, the
//!   confirmation prompt), and in every command that changes nothing in AWS: the command
//!   stops at once; its state lock, left by the dropped command, is given back by the code
//!   that runs commands (`store::release_abandoned`); nothing was changed in AWS;
//! - during an apply: the first interrupt starts no new operation and lets the running ones
//!   finish; the second stops waiting for them (they go on in AWS and are recorded as
//!   intents), saves the state and gives the lock back; a third exits at once and leaves the
//!   lock, saying how to remove it.
//!
//! A run ended by an interrupt exits 128 + the signal's number, as shells report it: 130 for
//! SIGINT, 143 for SIGTERM.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use anyhow::{Context, Result};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

/// A signal that interrupts a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT: Ctrl-C.
    Interrupt,
    /// SIGTERM.
    Terminate,
}

impl Signal {
    /// The exit code of a run this signal ended: 128 + the signal's number.
    pub fn exit_code(self) -> u8 {
        match self {
            Signal::Interrupt => 130,
            Signal::Terminate => 143,
        }
    }

    /// The signal's name.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        }
    }
}

/// What the interrupts received so far ask of the run. The signal is the first one received:
/// it gives the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stop {
    /// Go on.
    #[default]
    No,
    /// Stop the command now: nothing has been changed in AWS.
    Abort(Signal),
    /// Start no new operation; let the running ones finish.
    Drain(Signal),
    /// Stop waiting for the running operations; save the state and give the lock back.
    Abandon(Signal),
}

impl Stop {
    /// The first signal received, if any.
    pub fn signal(self) -> Option<Signal> {
        match self {
            Stop::No => None,
            Stop::Abort(s) | Stop::Drain(s) | Stop::Abandon(s) => Some(s),
        }
    }
}

/// The run's phase and what the interrupts so far ask of it, changed only under the
/// channel's lock, so an interrupt and the start of an apply never race.
#[derive(Debug, Clone, Copy, Default)]
struct Run {
    /// An apply has started carrying out operations (interrupts then drain, then abandon,
    /// instead of aborting).
    applying: bool,
    stop: Stop,
    received: u32,
    /// Steps under way that must not be cut in two ([`Critical`]).
    critical: u32,
}

/// The run's interrupt state: published by the task that receives the signals.
fn run() -> &'static watch::Sender<Run> {
    static RUN: OnceLock<watch::Sender<Run>> = OnceLock::new();
    RUN.get_or_init(|| watch::Sender::new(Run::default()))
}

/// Starts receiving SIGINT and SIGTERM for the rest of the run. Installing the handlers
/// replaces an inherited "ignore" disposition: an interrupt is never lost.
pub fn listen() -> Result<()> {
    let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    tokio::spawn(async move {
        loop {
            let signal = tokio::select! {
                r = int.recv() => r.map(|()| Signal::Interrupt),
                r = term.recv() => r.map(|()| Signal::Terminate),
            };
            let Some(signal) = signal else { return };
            let mut now = Run::default();
            // Under the channel's lock: an apply cannot start between the decision and
            // its effect, and the executor stops starting operations before the line is out.
            run().send_modify(|r| {
                r.received += 1;
                let first = r.stop.signal().unwrap_or(signal);
                r.stop = match (r.applying, r.received) {
                    (false, _) => Stop::Abort(first),
                    (true, 1) => Stop::Drain(first),
                    (true, _) => Stop::Abandon(first),
                };
                now = *r;
                if r.applying {
                    cancel_flag().store(true, Ordering::SeqCst);
                }
            });
            say(signal, now);
        }
    });
    Ok(())
}

/// Says what an interrupt does, and exits at once when it is one too many.
fn say(signal: Signal, now: Run) {
    let out = crate::progress::output();
    let code = now.stop.signal().unwrap_or(signal).exit_code();
    match (now.applying, now.received) {
        // The command stops on its own ([`aborted`]) and says so.
        (false, 1) => {}
        (false, _) => {
            out.println(format_args!(
                "\n{} again: exiting now. If a state lock remains, `eksmgr unlock LOCK_ID` removes it (the next run names the id).",
                signal.name()
            ));
            std::process::exit(code.into());
        }
        (true, 1) => out.println(format_args!(
            "\n{} received: finishing the operations under way, starting no new ones (interrupt again to stop waiting for them).",
            signal.name()
        )),
        (true, 2) => out.println(format_args!(
            "\n{} again: no longer waiting for the operations under way. They go on in AWS and are recorded as intents in the state, which is saved now, and the lock is released: `eksmgr apply` then adopts what they made (interrupt once more to exit without saving).",
            signal.name()
        )),
        (true, _) => {
            out.println(format_args!(
                "\n{} a third time: exiting without saving. The journal beside the state holds every completed step and the next run replays it; if the state lock remains, `eksmgr unlock LOCK_ID` removes it (the next run names the id).",
                signal.name()
            ));
            std::process::exit(code.into());
        }
    }
}

/// Resolves once an interrupt asks the command to stop before any change (never during an
/// apply's operations, nor within a [`Critical`] step), with the signal.
pub async fn aborted() -> Signal {
    let mut rx = run().subscribe();
    loop {
        let now = *rx.borrow_and_update();
        if let (Stop::Abort(signal), 0) = (now.stop, now.critical) {
            return signal;
        }
        if rx.changed().await.is_err() {
            // The sender lives in a static and is never dropped.
            std::future::pending::<()>().await;
        }
    }
}

/// The executor's flag that stops it starting operations, once an apply has started.
fn cancel_flag() -> Arc<AtomicBool> {
    CANCEL
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
        .unwrap_or_default()
}

static CANCEL: Mutex<Option<Arc<AtomicBool>>> = Mutex::new(None);

/// Marks the start of an apply's operations: from now on interrupts drain (setting `cancel`,
/// the executor's flag, before saying so), then abandon. `None` if an interrupt has already
/// asked the command to stop: nothing is to be started.
pub fn start_applying(cancel: Arc<AtomicBool>) -> Option<Interrupts> {
    *CANCEL.lock().unwrap_or_else(PoisonError::into_inner) = Some(cancel);
    let mut aborted = false;
    run().send_modify(|r| {
        aborted = matches!(r.stop, Stop::Abort(_));
        r.applying = !aborted;
    });
    (!aborted).then(|| Interrupts(run().subscribe()))
}

/// Marks the end of an apply's operations when no interrupt came during them: the next
/// phase (an agent's wait for its next cycle) stops at once on an interrupt again.
pub fn done_applying() {
    run().send_modify(|r| {
        if r.stop == Stop::No {
            r.applying = false;
        }
    });
}

/// What the interrupts ask of an apply under way.
pub struct Interrupts(watch::Receiver<Run>);

impl Interrupts {
    /// Waits for the next change of what is asked; `None` once nothing more can change.
    pub async fn next(&mut self) -> Option<Stop> {
        self.0.changed().await.ok()?;
        Some(self.0.borrow_and_update().stop)
    }
}

/// A step an interrupt must not cut in two, such as taking or giving back a lock in S3: a
/// request the run stopped waiting for may still have been carried out (the lock object
/// written, with nobody left to remove it). While one is held, stopping the command waits
/// for it to end.
pub struct Critical(());

impl Critical {
    /// Enters a critical step, until the value is dropped.
    pub fn enter() -> Critical {
        run().send_modify(|r| r.critical += 1);
        Critical(())
    }
}

impl Drop for Critical {
    fn drop(&mut self) {
        run().send_modify(|r| r.critical = r.critical.saturating_sub(1));
    }
}

/// The first signal received in this run, if any.
pub fn received() -> Option<Signal> {
    run().borrow().stop.signal()
}
