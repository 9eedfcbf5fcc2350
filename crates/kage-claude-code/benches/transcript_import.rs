//! Transcript import speed (issue 11): reading 1 GB of generated Claude
//! Code transcripts with [`TranscriptReader`] beside a plain line count of
//! the same files (a memchr newline count, single-threaded) measured in the
//! same run, then an incremental re-read after 1 MB more beside a line
//! count of those new bytes. Goals: the import within 3x of the line
//! count; the re-read proportional to the new bytes, not to the 1 GB.
//!
//! The mix: per turn a typed prompt, an assistant message streamed as
//! three lines (thinking, text, tool use) with the same message id and
//! usage, and a tool result of 4-64 KB (most of the bytes, as in real
//! transcripts); one in ten sessions has a subagent transcript in a nested
//! folder, and one in twenty a resumed copy of an earlier session (its
//! message ids repeat). `KAGE_BENCH_TRANSCRIPT_MB` sets the size (1024).
//!
//! `cargo xtask bench --only transcript_import`

#![allow(clippy::print_stdout)]

use std::fs::File;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kage_claude_code::TranscriptReader;

const SESSION_BYTES: usize = 8 << 20;

/// A small deterministic generator (no dependency for randomness).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn assistant(session: &str, message: u64, block: &str, text: &str, rng: &mut Rng) -> String {
    let input = 1 + rng.below(3000);
    format!(
        r#"{{"parentUuid":"p-{message}","isSidechain":false,"userType":"external","cwd":"/home/user/project","sessionId":"{session}","version":"2.1.197","gitBranch":"main","message":{{"id":"msg_{message:016x}","type":"message","role":"assistant","model":"claude-sonnet-5","content":[{{"type":"{block}","{block}":"{text}"}}],"stop_reason":null,"stop_sequence":null,"usage":{{"input_tokens":{input},"cache_creation_input_tokens":{},"cache_read_input_tokens":{},"cache_creation":{{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0}},"output_tokens":{},"service_tier":"standard"}}}},"requestId":"req_{message:016x}","type":"assistant","uuid":"u-{message}-{block}","timestamp":"2026-12-05T22:32:31.452Z"}}"#,
        rng.below(5000),
        rng.below(90000),
        1 + rng.below(2000),
    ) + "\n"
}

fn session_text(session: &str, first_message: u64, bytes: usize, rng: &mut Rng) -> (String, u64) {
    let mut text = String::with_capacity(bytes + 70_000);
    let mut message = first_message;
    let filler = "lorem ipsum dolor sit amet, consectetur adipiscing elit ".repeat(1200);
    while text.len() < bytes {
        text.push_str(&format!(
            r#"{{"parentUuid":null,"isSidechain":false,"type":"user","message":{{"role":"user","content":"please fix the failing test number {message}"}},"uuid":"t-{message}","timestamp":"2026-12-05T22:32:30.000Z","sessionId":"{session}"}}"#
        ));
        text.push('\n');
        text.push_str(&assistant(
            session,
            message,
            "thinking",
            "let me look at the code first",
            rng,
        ));
        text.push_str(&assistant(
            session,
            message,
            "text",
            "I will run the tests.",
            rng,
        ));
        text.push_str(&assistant(session, message, "tool_use", "Bash", rng));
        let size = 4096 + usize::try_from(rng.below(60 * 1024)).unwrap_or(0);
        text.push_str(&format!(
            r#"{{"parentUuid":"u-{message}","isSidechain":false,"type":"user","message":{{"role":"user","content":[{{"tool_use_id":"toolu_{message}","type":"tool_result","content":"{}"}}]}},"uuid":"r-{message}","timestamp":"2026-12-05T22:32:32.000Z","toolUseResult":{{"stdout":"ok","stderr":""}},"sessionId":"{session}"}}"#,
            &filler[..size.min(filler.len())]
        ));
        text.push('\n');
        message += 1;
    }
    (text, message)
}

/// Write `total` bytes of transcripts under `root`; how many were written.
fn generate(root: &Path, total: usize) -> usize {
    let project = root.join("projects").join("-home-user-project");
    std::fs::create_dir_all(&project).expect("create the project folder");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut written = 0;
    let mut message = 0;
    let mut session = 0;
    let mut earlier = String::new();
    while written < total {
        let id = format!("0000{session:04}-aaaa-bbbb-cccc-dddddddddddd");
        let (text, next) = session_text(&id, message, SESSION_BYTES.min(total - written), &mut rng);
        message = next;
        std::fs::write(project.join(format!("{id}.jsonl")), &text).expect("write a transcript");
        written += text.len();
        if session % 10 == 3 {
            let nested = project.join(&id).join("subagents");
            std::fs::create_dir_all(&nested).expect("create a subagent folder");
            let (sub, next) = session_text(&id, message, 1 << 20, &mut rng);
            message = next;
            std::fs::write(nested.join("agent-a1.jsonl"), &sub)
                .expect("write a subagent transcript");
            written += sub.len();
        }
        if session % 20 == 7 && !earlier.is_empty() {
            // A resumed session copies an earlier one's messages.
            let copy = &earlier[..earlier.len().min(2 << 20)];
            let copy = &copy[..copy.rfind('\n').map_or(0, |i| i + 1)];
            std::fs::write(project.join(format!("{id}-resumed.jsonl")), copy)
                .expect("write a copy");
            written += copy.len();
        }
        earlier = text;
        session += 1;
    }
    written
}

fn files(root: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(root).expect("read a folder") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            files(&path, found);
        } else {
            found.push(path);
        }
    }
}

/// The baseline: newlines counted with memchr, 8 MB reads, one thread.
fn count_lines(paths: &[PathBuf], skip: &[(PathBuf, u64)]) -> (u64, u64) {
    let mut buffer = vec![0u8; 8 << 20];
    let (mut lines, mut bytes) = (0u64, 0u64);
    for path in paths {
        let mut file = File::open(path).expect("open");
        let from = skip
            .iter()
            .find(|(p, _)| p == path)
            .map_or(0, |(_, at)| *at);
        std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(from)).expect("seek");
        loop {
            let read = file.read(&mut buffer).expect("read");
            if read == 0 {
                break;
            }
            bytes += read as u64;
            lines += memchr::memchr_iter(b'\n', &buffer[..read]).count() as u64;
        }
    }
    (lines, bytes)
}

fn best<T>(runs: usize, mut run: impl FnMut() -> T) -> (Duration, T) {
    let mut best: Option<(Duration, T)> = None;
    for _ in 0..runs {
        let started = Instant::now();
        let result = run();
        let elapsed = started.elapsed();
        if best.as_ref().is_none_or(|(fastest, _)| elapsed < *fastest) {
            best = Some((elapsed, result));
        }
    }
    best.expect("at least one run")
}

fn mb_per_s(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / 1e6 / elapsed.as_secs_f64()
}

fn main() {
    let megabytes: usize = std::env::var("KAGE_BENCH_TRANSCRIPT_MB")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(1024);
    let dir = tempfile::tempdir().expect("a temporary folder");
    let generated = Instant::now();
    let written = generate(dir.path(), megabytes << 20);
    println!(
        "transcript_import: generated {:.0} MB of transcripts in {:.1}s",
        written as f64 / 1e6,
        generated.elapsed().as_secs_f64()
    );
    let project = dir.path().join("projects");
    let mut paths = Vec::new();
    files(&project, &mut paths);
    paths.sort();

    // Both read the same files, warm in the page cache after the first run.
    let (baseline, (lines, bytes)) = best(3, || count_lines(&paths, &[]));
    let (import, (messages, reader)) = best(3, || {
        let mut reader = TranscriptReader::new(vec![project.clone()]);
        let poll = reader.poll().expect("read the transcripts");
        (poll.usage.len(), reader)
    });
    let ratio = import.as_secs_f64() / baseline.as_secs_f64();
    println!(
        "transcript_import: line count (memchr, 1 thread) {:>8.1} ms  {:>7.0} MB/s  ({lines} lines, {} files)",
        baseline.as_secs_f64() * 1e3,
        mb_per_s(bytes, baseline),
        paths.len()
    );
    println!(
        "transcript_import: import (TranscriptReader)    {:>8.1} ms  {:>7.0} MB/s  ({messages} messages)  {ratio:.2}x the line count  goal <= 3x: {}",
        import.as_secs_f64() * 1e3,
        mb_per_s(bytes, import),
        if ratio <= 3.0 { "met" } else { "MISSED" }
    );

    // 1 MB more, spread over the newest sessions, then a re-read.
    let mut reader = reader;
    let offsets = reader.offsets();
    let mut rng = Rng(7);
    let mut added = 0usize;
    let targets: Vec<&PathBuf> = paths.iter().rev().take(4).collect();
    let mut message = 1u64 << 40;
    while added < 1 << 20 {
        for path in &targets {
            let (text, next) = session_text("appended", message, 64 << 10, &mut rng);
            message = next;
            let mut file = std::fs::OpenOptions::new()
                .append(true)
                .open(path)
                .expect("open");
            file.write_all(text.as_bytes()).expect("append");
            added += text.len();
        }
    }
    let started = Instant::now();
    let poll = reader.poll().expect("re-read");
    let incremental = started.elapsed();
    let (new_lines_time, (new_lines, new_bytes)) = best(1, || count_lines(&paths, &offsets));
    println!(
        "transcript_import: re-read after {:.2} MB more: {:>8.2} ms ({} new messages); line count of the new bytes {:.2} ms ({new_lines} lines, {:.2} MB); full import {:.1} ms",
        added as f64 / 1e6,
        incremental.as_secs_f64() * 1e3,
        poll.usage.len(),
        new_lines_time.as_secs_f64() * 1e3,
        new_bytes as f64 / 1e6,
        import.as_secs_f64() * 1e3,
    );
    let per_byte_full = import.as_secs_f64() / bytes as f64;
    let per_byte_new = incremental.as_secs_f64() / added as f64;
    println!(
        "transcript_import: re-read cost per byte {:.2}x the full import's (goal: proportional to the new bytes, about 1x; a re-read of everything would be {:.0}x)",
        per_byte_new / per_byte_full,
        bytes as f64 / added as f64
    );
}
