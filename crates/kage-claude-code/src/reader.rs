//! [`TranscriptReader`]: the new complete lines of Claude Code's
//! transcripts, read by byte offset per file.
//!
//! Usage costs one substring search over the new bytes: only a line holding
//! `"type":"assistant"` (Claude Code writes compact JSON) and `"usage"` is
//! parsed, with borrowed fields ([`crate::usage_in_line`]); the lines of
//! tool results, which hold most of a transcript's bytes, are skipped
//! without being split. One API request answers with one message, so a
//! line whose `requestId` was parsed before (a later content block of the
//! same message, a sidechain replay, a resumed copy) is not parsed again;
//! the key is still message id and request id. Top-level lines are parsed whole only when asked
//! for ([`TranscriptReader::with_lines`], for limits and prompts).
//!
//! A session's reader ([`TranscriptReader::only_sessions`]) reads only the
//! files of the sessions it is told belong to it: another session's file
//! in the same folder is not even listed, so its offset stays where it was
//! until the session joins ([`TranscriptReader::add_session`]).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::io::{self, Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};

use memchr::memmem::Finder;
use serde_json::Value;

use crate::usage::{MessageUsage, usage_in_line};

/// How many bytes one read takes (a longer line grows the buffer).
const CHUNK: usize = 8 << 20;

/// What marks a line that may be an assistant message.
const ASSISTANT: &[u8] = br#""type":"assistant""#;
/// What an assistant line with usage holds.
const USAGE: &[u8] = br#""usage""#;
/// Where a line's request id starts.
const REQUEST_ID: &[u8] = br#""requestId":""#;

/// One new line of a top-level transcript, with the session (the file's
/// stem) it belongs to.
#[derive(Clone, Debug)]
pub struct TranscriptLine {
    pub session_id: String,
    pub value: Value,
}

/// What one [`TranscriptReader::poll`] found.
#[derive(Debug, Default)]
pub struct Poll {
    /// Assistant messages with usage not yielded before (by key), in the
    /// order they were written per file.
    pub usage: Vec<MessageUsage>,
    /// The new top-level lines, when asked for.
    pub lines: Vec<TranscriptLine>,
}

#[derive(Debug)]
struct FileState {
    /// Bytes consumed (up to the end of the last complete line).
    offset: u64,
    /// Whether every byte before `offset` was read by this reader or is in
    /// the store by its saved offset: only then may `offset` be saved.
    contiguous: bool,
    /// The offset last handed out by [`TranscriptReader::offsets`].
    reported: Option<u64>,
    /// A transcript directly in a root folder (or a root file): a session's
    /// own transcript, not a subagent's.
    top_level: bool,
    session_id: String,
}

/// Reads the transcripts under some folders (recursively: subagents'
/// transcripts are nested) or files, incrementally.
#[derive(Debug)]
pub struct TranscriptReader {
    roots: Vec<PathBuf>,
    files: HashMap<PathBuf, FileState>,
    /// Offsets the store holds, for files not read yet.
    saved: HashMap<PathBuf, u64>,
    seen: HashSet<String>,
    /// Request ids of the lines parsed for usage.
    requests: HashSet<Vec<u8>>,
    lines: bool,
    /// The sessions whose files a poll reads (`None`: every file).
    sessions: Option<BTreeSet<String>>,
    buffer: Vec<u8>,
    assistant: Finder<'static>,
    usage: Finder<'static>,
    request: Finder<'static>,
}

impl TranscriptReader {
    /// A reader of every `*.jsonl` file under `roots` (folders, read
    /// recursively, or files), each from its start.
    pub fn new(roots: Vec<PathBuf>) -> Self {
        Self {
            roots,
            files: HashMap::new(),
            saved: HashMap::new(),
            seen: HashSet::new(),
            requests: HashSet::new(),
            lines: false,
            sessions: None,
            buffer: Vec::new(),
            assistant: Finder::new(ASSISTANT),
            usage: Finder::new(USAGE),
            request: Finder::new(REQUEST_ID),
        }
    }

    /// Also yield the new lines of top-level transcripts, parsed.
    #[must_use]
    pub fn with_lines(mut self) -> Self {
        self.lines = true;
        self
    }

    /// Poll only the files of the sessions named with [`Self::add_session`]
    /// (none at first): in a root folder, `<session id>.jsonl` and the
    /// session's folder (its subagents' transcripts). Other files are not
    /// listed, so their offsets do not move: a session that joins later is
    /// read from where [`Self::skip_existing`] (or its saved offset) left
    /// it, with what it wrote meanwhile. A root that is a file is read when
    /// its stem is a session's. [`Self::skip_existing`] still lists every
    /// file.
    #[must_use]
    pub fn only_sessions(mut self) -> Self {
        self.sessions = Some(BTreeSet::new());
        self
    }

    /// Read `session_id`'s files from the next poll on (with
    /// [`Self::only_sessions`]). Returns whether it joined now; an id that
    /// cannot be a file name (empty, `.`, `..`, a path separator) never
    /// joins.
    pub fn add_session(&mut self, session_id: &str) -> bool {
        let usable =
            !matches!(session_id, "" | "." | "..") && !session_id.contains(['/', '\\', '\0']);
        match &mut self.sessions {
            Some(sessions) if usable => sessions.insert(session_id.to_owned()),
            _ => false,
        }
    }

    /// Start each file where the store says its usage is recorded up to
    /// (bytes before it are not read again).
    pub fn resume(&mut self, saved: impl IntoIterator<Item = (PathBuf, u64)>) {
        self.saved.extend(saved);
    }

    /// Forget what the files hold now: later polls read only what is written
    /// after this call. A file whose skipped bytes are not all in the store
    /// gets no saved offset from this reader (`kage usage import` reads it).
    ///
    /// # Errors
    /// When a root folder cannot be read.
    pub fn skip_existing(&mut self) -> io::Result<()> {
        for (path, len, top_level) in self.list(None)? {
            let state = self.state(path, top_level);
            if state.offset != len {
                // Bytes this reader did not record are skipped.
                state.contiguous = false;
                state.offset = len;
            }
        }
        Ok(())
    }

    /// The offsets that changed since the last call, of the files whose
    /// offset may be saved: save them with the usage of the same polls.
    pub fn offsets(&mut self) -> Vec<(PathBuf, u64)> {
        let mut changed = Vec::new();
        for (path, state) in &mut self.files {
            if state.contiguous && state.reported != Some(state.offset) {
                state.reported = Some(state.offset);
                changed.push((path.clone(), state.offset));
            }
        }
        changed.sort();
        changed
    }

    /// What was appended since the last poll (complete lines only).
    ///
    /// # Errors
    /// When a folder or file cannot be read.
    pub fn poll(&mut self) -> io::Result<Poll> {
        let mut poll = Poll::default();
        for (path, len, top_level) in self.list(self.sessions.as_ref())? {
            let offset = self.state(path.clone(), top_level).offset;
            if len == offset {
                continue;
            }
            if len < offset {
                // Rewritten shorter: read it again (keys keep it counted once).
                let state = self.state(path.clone(), top_level);
                state.offset = 0;
                state.contiguous = false;
            }
            self.read_file(&path, len, &mut poll)?;
        }
        Ok(poll)
    }

    fn state(&mut self, path: PathBuf, top_level: bool) -> &mut FileState {
        let saved = self.saved.get(&path).copied();
        self.files.entry(path).or_insert_with_key(|path| FileState {
            offset: saved.unwrap_or(0),
            contiguous: true,
            reported: saved,
            top_level,
            session_id: path
                .file_stem()
                .map(|stem| stem.to_string_lossy().into_owned())
                .unwrap_or_default(),
        })
    }

    /// Every `*.jsonl` file under the roots, with its length and whether it
    /// is top-level; with `sessions`, only those sessions' files.
    fn list(&self, sessions: Option<&BTreeSet<String>>) -> io::Result<Vec<(PathBuf, u64, bool)>> {
        let mut found = Vec::new();
        for root in &self.roots {
            let Some(metadata) = metadata_of(root)? else {
                continue;
            };
            if metadata.is_file() {
                let stem = root.file_stem().map(|stem| stem.to_string_lossy());
                if sessions.is_none_or(|sessions| {
                    stem.is_some_and(|stem| sessions.contains(stem.as_ref()))
                }) {
                    found.push((root.clone(), metadata.len(), true));
                }
                continue;
            }
            let Some(sessions) = sessions else {
                walk(root, true, &mut found)?;
                continue;
            };
            for session in sessions {
                let file = root.join(format!("{session}.jsonl"));
                if let Some(session_file) = metadata_of(&file)?.filter(std::fs::Metadata::is_file) {
                    found.push((file, session_file.len(), true));
                }
                walk(&root.join(session), false, &mut found)?;
            }
        }
        Ok(found)
    }

    /// Read `path` from its offset up to `len`, a chunk at a time.
    fn read_file(&mut self, path: &Path, len: u64, poll: &mut Poll) -> io::Result<()> {
        let Some(state) = self.files.get(path) else {
            return Ok(());
        };
        let (mut offset, top_level, session_id) =
            (state.offset, state.top_level, state.session_id.clone());
        let mut file = File::open(path)?;
        file.seek(SeekFrom::Start(offset))?;
        let mut remaining = len - offset;
        let mut buffer = std::mem::take(&mut self.buffer);
        if buffer.len() < CHUNK {
            buffer.resize(CHUNK, 0);
        }
        // `buffer[..filled]` holds read bytes not consumed yet: the start
        // of a line whose end was not read yet.
        let mut filled = 0;
        while remaining > 0 {
            if filled == buffer.len() {
                // One line longer than the buffer: make room for more of it.
                buffer.resize(buffer.len() * 2, 0);
            }
            let want = usize::try_from(remaining)
                .unwrap_or(usize::MAX)
                .min(buffer.len() - filled);
            let read = file.read(&mut buffer[filled..filled + want])?;
            if read == 0 {
                break;
            }
            remaining -= read as u64;
            let searched_from = filled;
            filled += read;
            let Some(last) = memchr::memrchr(b'\n', &buffer[searched_from..filled]) else {
                continue;
            };
            let complete = searched_from + last + 1;
            self.scan(&buffer[..complete], top_level, &session_id, poll);
            offset += complete as u64;
            buffer.copy_within(complete..filled, 0);
            filled -= complete;
        }
        self.buffer = buffer;
        if let Some(state) = self.files.get_mut(path) {
            state.offset = offset;
        }
        Ok(())
    }

    /// The usage (and, when asked, the lines) of complete lines.
    fn scan(&mut self, region: &[u8], top_level: bool, session_id: &str, poll: &mut Poll) {
        if self.lines && top_level {
            for line in region.split(|&byte| byte == b'\n') {
                if line.is_empty() {
                    continue;
                }
                self.usage_of(line, session_id, poll);
                if let Ok(value) = serde_json::from_slice::<Value>(line) {
                    poll.lines.push(TranscriptLine {
                        session_id: session_id.to_owned(),
                        value,
                    });
                }
            }
            return;
        }
        // Jump from one assistant line to the next; other lines are not split.
        let mut position = 0;
        while position < region.len() {
            let Some(found) = self.assistant.find(&region[position..]) else {
                break;
            };
            let at = position + found;
            let start = memchr::memrchr(b'\n', &region[position..at])
                .map_or(position, |i| position + i + 1);
            let end = memchr::memchr(b'\n', &region[at..]).map_or(region.len(), |i| at + i);
            self.usage_of(&region[start..end], session_id, poll);
            position = end + 1;
        }
    }

    fn usage_of(&mut self, line: &[u8], session_id: &str, poll: &mut Poll) {
        if self.assistant.find(line).is_none() || self.usage.find(line).is_none() {
            return;
        }
        // A request answers with one message: a line whose request id was
        // read already is a later content block (or a copy) of a message
        // already counted, and is not parsed again.
        let request = self.request.find(line).and_then(|at| {
            let value = &line[at + REQUEST_ID.len()..];
            let end = memchr::memchr2(b'"', b'\\', value)?;
            (value[end] == b'"').then(|| &value[..end])
        });
        if request.is_some_and(|request| self.requests.contains(request)) {
            return;
        }
        let Some(message) = usage_in_line(line, session_id) else {
            return;
        };
        if let Some(request) = request {
            self.requests.insert(request.to_vec());
        }
        if !self.seen.contains(&message.key) {
            self.seen.insert(message.key.clone());
            poll.usage.push(message);
        }
    }
}

/// A path's metadata; `None` when it does not exist.
fn metadata_of(path: &Path) -> io::Result<Option<std::fs::Metadata>> {
    match std::fs::metadata(path) {
        Ok(metadata) => Ok(Some(metadata)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

/// The `*.jsonl` files under `folder`, recursively; `top_level` for a root
/// folder (its own files are sessions' transcripts).
fn walk(folder: &Path, top_level: bool, found: &mut Vec<(PathBuf, u64, bool)>) -> io::Result<()> {
    let entries = match std::fs::read_dir(folder) {
        Ok(entries) => entries,
        Err(error)
            if matches!(
                error.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(());
        }
        Err(error) => return Err(error),
    };
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(&path, false, found)?;
        } else if kind.is_file() && path.extension().is_some_and(|ext| ext == "jsonl") {
            found.push((path, entry.metadata()?.len(), top_level));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn assistant(id: &str, request: &str, input: u64, model: &str) -> String {
        format!(
            r#"{{"parentUuid":null,"isSidechain":false,"sessionId":"s1","message":{{"id":"{id}","type":"message","role":"assistant","model":"{model}","content":[{{"type":"text","text":"hi"}}],"usage":{{"input_tokens":{input},"cache_creation_input_tokens":10,"cache_read_input_tokens":100,"output_tokens":5}}}},"requestId":"{request}","type":"assistant","uuid":"u-{id}","timestamp":"2026-12-05T22:32:31.452Z"}}"#
        ) + "\n"
    }

    fn tool_result(size: usize) -> String {
        format!(
            r#"{{"type":"user","sessionId":"s1","message":{{"role":"user","content":[{{"type":"tool_result","content":"{}"}}]}},"toolUseResult":{{"stdout":"\"type\":\"assistant\""}}}}"#,
            "x".repeat(size)
        ) + "\n"
    }

    fn append(path: &Path, text: &str) {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("open");
        file.write_all(text.as_bytes()).expect("append");
    }

    fn keys(poll: &Poll) -> Vec<String> {
        poll.usage
            .iter()
            .map(|message| message.key.clone())
            .collect()
    }

    #[test]
    fn each_message_once_synthetic_skipped_partial_lines_waited_for() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("s1.jsonl");
        // A message streamed as two content blocks, a tool result, a
        // synthetic error message, and the start of a line.
        append(&file, &assistant("m1", "r1", 7, "claude-sonnet-5"));
        append(&file, &assistant("m1", "r1", 7, "claude-sonnet-5"));
        append(&file, &tool_result(100));
        append(&file, &assistant("m2", "r2", 0, "<synthetic>"));
        let third = assistant("m3", "r3", 9, "claude-sonnet-5");
        append(&file, &third[..40]);
        let mut reader = TranscriptReader::new(vec![dir.path().to_path_buf()]);
        let poll = reader.poll().expect("poll");
        assert_eq!(keys(&poll), vec!["claude:m1:r1"]);
        assert_eq!(poll.usage[0].usage.input_tokens, 7);
        assert_eq!(poll.usage[0].session_id, "s1");
        assert!(poll.lines.is_empty(), "lines only when asked");
        let consumed = std::fs::metadata(&file).expect("meta").len() - 40;
        assert_eq!(reader.offsets(), vec![(file.clone(), consumed)]);

        append(&file, &third[40..]);
        // The same message again (a sidechain replay, a resumed copy).
        append(&file, &assistant("m1", "r1", 7, "claude-sonnet-5"));
        let poll = reader.poll().expect("poll");
        assert_eq!(keys(&poll), vec!["claude:m3:r3"]);
        assert!(reader.poll().expect("poll").usage.is_empty());
        let end = std::fs::metadata(&file).expect("meta").len();
        assert_eq!(reader.offsets(), vec![(file.clone(), end)]);
        assert!(reader.offsets().is_empty(), "only changed offsets");

        // A message id with another request id is another response.
        append(&file, &assistant("m1", "r9", 7, "claude-sonnet-5"));
        assert_eq!(keys(&reader.poll().expect("poll")), vec!["claude:m1:r9"]);
    }

    #[test]
    fn subagent_transcripts_in_nested_folders_are_read_but_give_no_lines() {
        let dir = tempfile::tempdir().expect("temp dir");
        let nested = dir.path().join("s1").join("subagents");
        std::fs::create_dir_all(&nested).expect("mkdir");
        append(
            &nested.join("agent-a1.jsonl"),
            &assistant("sub1", "rs", 3, "claude-haiku-5"),
        );
        append(
            &dir.path().join("s1.jsonl"),
            &assistant("main1", "rm", 4, "claude-sonnet-5"),
        );
        append(
            &dir.path().join("notes.txt"),
            &assistant("txt", "rt", 4, "claude-sonnet-5"),
        );
        let mut reader = TranscriptReader::new(vec![dir.path().to_path_buf()]).with_lines();
        let poll = reader.poll().expect("poll");
        let mut found = keys(&poll);
        found.sort();
        assert_eq!(found, vec!["claude:main1:rm", "claude:sub1:rs"]);
        assert_eq!(poll.lines.len(), 1, "the top-level transcript's line only");
        assert_eq!(poll.lines[0].session_id, "s1");
    }

    fn sorted(poll: &Poll) -> Vec<String> {
        let mut found = keys(poll);
        found.sort();
        found
    }

    #[test]
    fn a_session_reader_reads_only_its_sessions_and_a_joining_one_from_the_skip() {
        let dir = tempfile::tempdir().expect("temp dir");
        let old_agents = dir.path().join("old").join("subagents");
        std::fs::create_dir_all(&old_agents).expect("mkdir");
        let old = dir.path().join("old.jsonl");
        append(&old, &assistant("o1", "ro1", 1, "m"));
        append(
            &old_agents.join("agent-1.jsonl"),
            &assistant("oa1", "roa1", 1, "m"),
        );
        let mut reader = TranscriptReader::new(vec![dir.path().to_path_buf()])
            .with_lines()
            .only_sessions();
        reader.skip_existing().expect("skip");
        assert!(reader.add_session("mine"));
        assert!(!reader.add_session("mine"), "already in");
        for unusable in ["", ".", "..", "../old", "a/b"] {
            assert!(!reader.add_session(unusable), "{unusable:?}");
        }

        // This reader's session (and its subagent) write, and so do another
        // session in the folder and an earlier one: only its own are read.
        let mine_agents = dir.path().join("mine").join("subagents");
        std::fs::create_dir_all(&mine_agents).expect("mkdir");
        let mine = dir.path().join("mine.jsonl");
        append(&mine, &assistant("m1", "rm1", 1, "m"));
        append(
            &mine_agents.join("agent-2.jsonl"),
            &assistant("ma1", "rma1", 1, "m"),
        );
        append(
            &dir.path().join("other.jsonl"),
            &assistant("x1", "rx1", 1, "m"),
        );
        append(&old, &assistant("o2", "ro2", 1, "m"));
        append(
            &old_agents.join("agent-1.jsonl"),
            &assistant("oa2", "roa2", 1, "m"),
        );
        let poll = reader.poll().expect("poll");
        assert_eq!(sorted(&poll), vec!["claude:m1:rm1", "claude:ma1:rma1"]);
        assert_eq!(poll.lines.len(), 1, "the session's own top-level line");
        assert_eq!(poll.lines[0].session_id, "mine");
        let saved: Vec<PathBuf> = reader.offsets().into_iter().map(|(path, _)| path).collect();
        assert_eq!(
            saved,
            vec![mine_agents.join("agent-2.jsonl"), mine],
            "no other file's offset moved"
        );

        // The earlier session joins (resumed, or named by the status line):
        // what it wrote since the skip is read, not what came before it.
        assert!(reader.add_session("old"));
        append(&old, &assistant("o3", "ro3", 1, "m"));
        assert_eq!(
            sorted(&reader.poll().expect("poll")),
            vec!["claude:o2:ro2", "claude:o3:ro3", "claude:oa2:roa2"]
        );
        // A session that began after the skip is read whole when it joins.
        assert!(reader.add_session("other"));
        assert_eq!(keys(&reader.poll().expect("poll")), vec!["claude:x1:rx1"]);
        assert!(reader.poll().expect("poll").usage.is_empty());
    }

    #[test]
    fn a_reader_resumes_from_saved_offsets_and_skipping_breaks_contiguity() {
        let dir = tempfile::tempdir().expect("temp dir");
        let old = dir.path().join("old.jsonl");
        let known = dir.path().join("known.jsonl");
        append(&old, &assistant("o1", "ro1", 1, "m"));
        append(&known, &assistant("k1", "rk1", 1, "m"));
        let known_len = std::fs::metadata(&known).expect("meta").len();

        // Resumed at the saved offsets: only bytes after them are read.
        let mut reader = TranscriptReader::new(vec![dir.path().to_path_buf()]);
        reader.resume([(known.clone(), known_len)]);
        append(&known, &assistant("k2", "rk2", 1, "m"));
        let mut found = keys(&reader.poll().expect("poll"));
        found.sort();
        assert_eq!(found, vec!["claude:k2:rk2", "claude:o1:ro1"]);

        // A session reader skips what is there; a file whose skipped bytes
        // are not all in the store keeps its saved offset for an import.
        let mut session = TranscriptReader::new(vec![dir.path().to_path_buf()]).with_lines();
        let known_len = std::fs::metadata(&known).expect("meta").len();
        session.resume([(known.clone(), known_len)]);
        session.skip_existing().expect("skip");
        assert!(session.poll().expect("poll").usage.is_empty());
        append(&old, &assistant("o2", "ro2", 1, "m"));
        append(&known, &assistant("k3", "rk3", 1, "m"));
        let new = dir.path().join("new.jsonl");
        append(&new, &assistant("n1", "rn1", 1, "m"));
        let poll = session.poll().expect("poll");
        let mut found = keys(&poll);
        found.sort();
        assert_eq!(
            found,
            vec!["claude:k3:rk3", "claude:n1:rn1", "claude:o2:ro2"]
        );
        assert_eq!(poll.lines.len(), 3);
        let saved: Vec<PathBuf> = session
            .offsets()
            .into_iter()
            .map(|(path, _)| path)
            .collect();
        assert_eq!(saved, vec![known, new]);
    }
}
