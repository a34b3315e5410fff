// Package wal is the write-ahead log under herald's durable queues and
// topics: an append-only sequence of records, each an opaque payload with
// a type byte of the caller's, kept in segment files in one directory, that
// survives a crash of the process or the machine and tells what it lost.
//
// A [Log] is opened on a directory with [Open], which holds the directory
// with a lock file (a second Open, in this process or another, fails with
// [ErrLocked]; where flock(2) is missing, only a second Open in the same
// process) and recovers what an earlier Log left there. [Log.Append]
// adds a record and returns its [Pos]; [Log.Replay] visits every record in
// order; [Log.Release] ends a record, and a segment whose records have all
// ended is deleted. [Log.Stragglers] says which records to copy forward
// so that a few long-lived ones do not pin old segments.
//
// # On disk
//
// The directory holds LOCK and the segments, named by a 20-digit decimal
// segment number ("00000000000000000001.wal"), numbered from 1 up. Each
// segment starts with a 24-byte header:
//
//	0   8  magic "HERALDWL"
//	8   2  format version, little endian: 1
//	10  2  reserved, 0
//	12  8  segment number, as in the file name
//	20  4  CRC-32C of bytes 0..20
//
// Records follow back to back, each a 12-byte frame header and the payload:
//
//	0   4  payload length n, little endian, at most MaxPayload (16 MiB)
//	4   1  type, 1..255
//	5   1  flags: bit 0 set on a record written after an fsync; others 0
//	6   2  header check: low 16 bits of CRC-32C of bytes 0..6
//	8   4  CRC-32C (Castagnoli) of the type byte followed by the payload
//	12  n  payload
//
// A 1 KiB payload takes 1036 bytes on disk. The header check lets recovery
// search damaged bytes for the next record at every offset without
// checksumming payloads that are not there. A log starts a new segment when
// the next batch of records would take the active one past
// Options.SegmentSize (16 MiB by default); a batch is never split, so a
// segment may exceed the size by one batch.
//
// # Sync policies
//
// [SyncAlways], the default, returns from Append once the record is
// written and fsynced. Appends that arrive while an fsync is in flight wait
// for it to end and share the next one (group commit): one appender leads,
// writes everything pending with one write and fsyncs once, and the others
// wait; when it is done, one of the waiters leads the next batch. Before
// it writes, a leader waits for the appenders the last fsync released to
// append again, if they have not yet, for at most half that fsync's
// duration and 1 ms: without that, producers that each wait for their
// append split into cohorts that take turns, and 4 of them share each
// fsync 2 by 2. One producer pays one write and one fsync per record, as a
// loop of its own would, and never waits for others; N producers share
// fsyncs N by N. No goroutine is started for this.
//
// [SyncInterval](d) returns once the record is written to the OS, and
// fsyncs at most d after a write: a crash of the process loses nothing
// acknowledged, a crash of the machine up to d of it.
//
// [SyncNever] returns once the record is written to the OS and leaves
// flushing to it: a crash of the process loses nothing acknowledged, a
// crash of the machine loses what the OS had not flushed.
//
// Under every policy the log fsyncs a segment before it starts the next
// one (so a segment that is not the newest is always whole on disk), and
// on [Log.Sync] and [Log.Close].
//
// For comparison: RabbitMQ sends a publisher confirm for a quorum queue
// once a majority of its replicas has written the message to its log and
// fsynced it, which is SyncAlways on each replica. NATS JetStream's file
// store fsyncs every two minutes by default (sync_interval: 2m) and on
// every write only with sync_interval: always, which is opt-in; its default
// is SyncInterval(2*time.Minute) here.
//
// [Log.AppendNoWait] adds a record that pins nothing and is not waited
// for; it reaches the OS with the next write and the disk with the next
// fsync. It is for records whose loss costs a redelivery at most, such as
// the note that a message was settled.
//
// # Recovery
//
// Open reads every segment and checks every frame. What a crash leaves is
// a torn tail: the newest segment ends in a frame that is cut short, or in
// bytes that are not a frame at all (zeros from a file system that extended
// the file before writing it, a partly written page). Open cuts the newest
// segment at its last valid record, durably, reports the cut bytes in
// [Recovery].Torn for the caller to log and count, and succeeds.
//
// The line between that and damage is drawn by fsyncs. The first record
// written after an fsync of its segment carries a mark (flag bit 0):
// everything before it was on disk when it was written. A damaged frame is
// the torn tail if it is in the newest segment and no marked, valid frame
// follows it there: it lies in what had been written but not yet fsynced
// when the crash came, where a power cut can leave holes as well as a cut
// (pages written out of order), so Open cuts the segment at the damage,
// valid records after it included. Under SyncAlways none of those was
// acknowledged, unless the disk itself changed the last batch after its
// fsync, which no check can tell from a torn write. A damaged frame followed by a marked one, or in an older
// segment (each is fsynced whole before the next is started), is damage
// in the middle: bytes that were durable have changed. Open then fails
// with a [*CorruptError] that wraps [ErrCorrupt] and names the file and
// offset, unless Options.SkipCorrupt asks it to skip the damaged bytes up
// to the next valid frame (each skip reported in [Recovery].Skipped, never
// silently). A segment whose header is valid but names another format
// version is refused with [ErrVersion], skip or not.
//
// A crash of the process tears nothing but the last write. Under SyncNever
// the unsynced tail can be the whole newest segment, and a crash of the
// machine may cost all of it.
//
// # Faults
//
// An append whose write fails gets the error; the log cuts the partial
// write back off the file and goes on. An fsync error fails the appends it
// covers and then the log: every later append, Sync and AppendNoWait
// returns an error wrapping [ErrFailed] and the cause. After a failed fsync
// the OS may have dropped the dirty pages and will report success for the
// next fsync (the PostgreSQL "fsyncgate" lesson), so the log does not retry;
// Close it and Open again, which reads back what is really on disk. A write
// error that cannot be cut back, and a new segment that cannot be fsynced
// or removed after a failed start, fail the log the same way.
//
// Tests inject these faults through the file-system seam, Options.FS: a
// [walfs.FS] is the few calls the log makes, and walfs.Faulty wraps the OS
// to fail chosen writes, short writes and fsyncs, and counts every call.
//
// # Space
//
// Every record Append returns, and every record Open recovers, is live and
// pins its segment until Release. A segment is deleted once it is not the
// active one, holds no live record, and no older segment remains: a later
// segment may hold records that end an older segment's (a settle note for
// a message published earlier) and must outlive it, or the ended message
// would come back on recovery. So one long-lived record pins every segment
// after its own. Stragglers names the segments whose live records the
// caller should copy forward (Append a copy, then Release the original;
// recovery may then see both, so copies carry the identity of the
// original and the caller keeps the last): it asks to move records when
// the log holds more than twice its live bytes plus two segments, and then
// only the shortest run of old segments that brings it back under that.
// Disk use thus stays within about twice the live data plus a few
// segments, under steady traffic with stragglers.
package wal
