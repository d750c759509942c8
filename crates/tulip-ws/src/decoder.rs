//! The receiving half of the protocol, free of I/O: bytes in, messages out.
//!
//! [`Decoder::decode`] takes whatever the read buffer holds and returns a complete event or
//! asks for more bytes. Payload bytes are unmasked in place and appended to the message being
//! assembled as they arrive, so text is validated as it streams in and a bad byte fails the
//! connection before the rest of the frame is read. A frame larger than the read buffer is
//! read straight into the message buffer ([`Decoder::read_direct`]), skipping a copy.

use std::io;
use std::task::Poll;

use crate::close::CloseFrame;
use crate::config::Role;
use crate::deflate::Inflater;
use crate::error::ProtocolError;
use crate::frame::{FrameHeader, MAX_HEADER_LEN, OpCode, apply_mask, extend_masked};
use crate::message::Message;

/// Payload still to come above which an empty read buffer is bypassed.
const DIRECT_MIN: usize = 4096;
/// The most one direct read asks for.
const DIRECT_MAX: usize = 1 << 20;

/// A buffer of bytes read from the socket and not yet decoded.
#[derive(Debug)]
pub(crate) struct ReadBuf {
    data: Vec<u8>,
    start: usize,
    end: usize,
}

impl ReadBuf {
    /// A buffer for `size` payload bytes plus a frame header (see `Config::read_buffer_size`),
    /// starting with `leftover`.
    pub(crate) fn new(size: usize, leftover: &[u8]) -> ReadBuf {
        // Without the header's room a `size`-byte message takes two reads: `size` bytes, then
        // the last few payload bytes that the header pushed out.
        let room = size.saturating_add(MAX_HEADER_LEN);
        let mut data = vec![0; room.max(leftover.len()).max(64)];
        data[..leftover.len()].copy_from_slice(leftover);
        ReadBuf {
            data,
            start: 0,
            end: leftover.len(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.end - self.start
    }

    fn filled_mut(&mut self) -> &mut [u8] {
        &mut self.data[self.start..self.end]
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Free space to read into, moving unread bytes to the front when the tail is short.
    pub(crate) fn spare(&mut self) -> &mut [u8] {
        if self.data.len() - self.end < self.data.len() / 2 && self.start > 0 {
            self.data.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        &mut self.data[self.end..]
    }

    pub(crate) fn advance(&mut self, n: usize) {
        self.end += n;
    }
}

/// What the decoder hands up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    /// A complete text or binary message.
    Data(Message),
    /// A ping with its payload.
    Ping(Vec<u8>),
    /// A pong with its payload.
    Pong(Vec<u8>),
    /// A valid close frame.
    Close(Option<CloseFrame>),
}

#[derive(Debug, Clone, Copy)]
struct Frame {
    opcode: OpCode,
    fin: bool,
    mask: Option<[u8; 4]>,
    remaining: usize,
    /// Payload bytes of this frame already processed (the mask phase).
    offset: usize,
}

#[derive(Debug, Clone, Copy)]
struct Partial {
    text: bool,
    compressed: bool,
}

/// Frame parsing, reassembly, unmasking, UTF-8 checking and inflation for one connection.
#[derive(Debug)]
pub(crate) struct Decoder {
    role: Role,
    max_frame: usize,
    max_message: usize,
    inflater: Option<Inflater>,
    frame: Option<Frame>,
    partial: Option<Partial>,
    msg: Vec<u8>,
    /// Bytes at the front of `msg` known to be valid UTF-8 (uncompressed text only).
    utf8_valid: usize,
    control: Vec<u8>,
}

impl Decoder {
    pub(crate) fn new(role: Role, max_frame: usize, max_message: usize, deflate: bool) -> Self {
        Decoder {
            role,
            max_frame,
            max_message,
            inflater: deflate.then(Inflater::new),
            frame: None,
            partial: None,
            msg: Vec::new(),
            utf8_valid: 0,
            control: Vec::new(),
        }
    }

    /// Decodes from `buf` until one event is complete (`Some`) or `buf` runs dry (`None`).
    pub(crate) fn decode(&mut self, buf: &mut ReadBuf) -> Result<Option<Event>, ProtocolError> {
        loop {
            let Some(frame) = self.frame else {
                let Some((header, n)) = FrameHeader::decode(buf.filled_mut())? else {
                    return Ok(None);
                };
                buf.consume(n);
                self.start_frame(header)?;
                if let Some(event) = self.maybe_finish()? {
                    return Ok(Some(event));
                }
                continue;
            };
            let n = frame.remaining.min(buf.len());
            if n == 0 {
                // A direct read may have completed the frame without the buffer's help.
                if frame.remaining == 0 {
                    if let Some(event) = self.maybe_finish()? {
                        return Ok(Some(event));
                    }
                    continue;
                }
                return Ok(None);
            }
            let dest = if frame.opcode.is_control() {
                &mut self.control
            } else {
                &mut self.msg
            };
            let start = dest.len();
            let src = &buf.filled_mut()[..n];
            match frame.mask {
                // Unmask while copying out of the read buffer: one pass, not two.
                Some(key) => extend_masked(dest, src, key, frame.offset),
                None => dest.extend_from_slice(src),
            }
            buf.consume(n);
            self.absorb(start, false)?;
            if let Some(event) = self.maybe_finish()? {
                return Ok(Some(event));
            }
        }
    }

    /// When a large data payload is pending and nothing is buffered, reads it straight into
    /// the message with `read` instead of going through the read buffer.
    ///
    /// Returns `None` when a direct read does not apply; otherwise the read's outcome: `Ok(0)`
    /// is end of stream, and `Ok(n)` bytes went into the message (call [`Decoder::decode`]
    /// again to learn whether that completed it).
    pub(crate) fn read_direct(
        &mut self,
        buffered: usize,
        read: &mut dyn FnMut(&mut [u8]) -> Poll<io::Result<usize>>,
    ) -> Option<Poll<Result<usize, DirectError>>> {
        let frame = self.frame?;
        if buffered > 0 || frame.opcode.is_control() || frame.remaining < DIRECT_MIN {
            return None;
        }
        let start = self.msg.len();
        let want = frame.remaining.min(DIRECT_MAX);
        self.msg.resize(start + want, 0);
        let res = read(&mut self.msg[start..]);
        let n = match &res {
            Poll::Ready(Ok(n)) => *n,
            _ => 0,
        };
        self.msg.truncate(start + n);
        Some(match res {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Err(DirectError::Io(e))),
            Poll::Ready(Ok(0)) => Poll::Ready(Ok(0)),
            Poll::Ready(Ok(n)) => Poll::Ready(match self.absorb(start, true) {
                Ok(()) => Ok(n),
                Err(e) => Err(DirectError::Protocol(e)),
            }),
        })
    }

    fn start_frame(&mut self, h: FrameHeader) -> Result<(), ProtocolError> {
        if h.rsv2 || h.rsv3 {
            return Err(ProtocolError::ReservedBits);
        }
        let data_start = matches!(h.opcode, OpCode::Text | OpCode::Binary);
        if h.rsv1 && !(data_start && self.inflater.is_some()) {
            return Err(ProtocolError::ReservedBits);
        }
        match (self.role, h.mask) {
            (Role::Server, None) => return Err(ProtocolError::Unmasked),
            (Role::Client, Some(_)) => return Err(ProtocolError::Masked),
            _ => {}
        }
        if h.opcode.is_control() {
            if !h.fin {
                return Err(ProtocolError::FragmentedControl);
            }
            if h.len > 125 {
                return Err(ProtocolError::ControlTooLong);
            }
            self.control.clear();
        } else {
            if h.len > self.max_frame as u64 {
                return Err(ProtocolError::FrameTooLarge);
            }
            match (h.opcode, self.partial) {
                (OpCode::Continuation, None) => return Err(ProtocolError::UnexpectedContinuation),
                (OpCode::Continuation, Some(_)) => {}
                (_, Some(_)) => return Err(ProtocolError::ExpectedContinuation),
                (op, None) => {
                    self.partial = Some(Partial {
                        text: op == OpCode::Text,
                        compressed: h.rsv1,
                    });
                    self.msg.clear();
                    self.utf8_valid = 0;
                }
            }
            if self.msg.len() as u64 + h.len > self.max_message as u64 {
                return Err(ProtocolError::MessageTooLarge);
            }
            self.msg.reserve(h.len as usize);
        }
        self.frame = Some(Frame {
            opcode: h.opcode,
            fin: h.fin,
            mask: h.mask,
            remaining: h.len as usize,
            offset: 0,
        });
        Ok(())
    }

    /// Processes the bytes appended to the current destination from `start` on, unmasking
    /// them first when `unmask` (bytes read straight in; the buffered path unmasks as it
    /// copies).
    fn absorb(&mut self, start: usize, unmask: bool) -> Result<(), ProtocolError> {
        let frame = self.frame.as_mut().expect("a frame is in progress");
        let dest = if frame.opcode.is_control() {
            &mut self.control
        } else {
            &mut self.msg
        };
        let n = dest.len() - start;
        if let (Some(key), true) = (frame.mask, unmask) {
            apply_mask(&mut dest[start..], key, frame.offset);
        }
        frame.offset += n;
        frame.remaining -= n;
        let whole_message_here = frame.fin && frame.remaining == 0;
        if frame.opcode.is_control() {
            return Ok(());
        }
        let partial = self.partial.expect("a message is in progress");
        // Text that arrives whole in one piece is validated once, when it becomes a String;
        // anything streamed is checked as it comes so a bad byte fails fast.
        if partial.text && !partial.compressed && !(whole_message_here && self.utf8_valid == 0) {
            self.check_utf8(whole_message_here)?;
        }
        Ok(())
    }

    fn check_utf8(&mut self, complete: bool) -> Result<(), ProtocolError> {
        match std::str::from_utf8(&self.msg[self.utf8_valid..]) {
            Ok(_) => self.utf8_valid = self.msg.len(),
            Err(e) => {
                if e.error_len().is_some() || complete {
                    return Err(ProtocolError::InvalidUtf8);
                }
                // An incomplete sequence at the end may be finished by the next bytes.
                self.utf8_valid += e.valid_up_to();
            }
        }
        Ok(())
    }

    fn maybe_finish(&mut self) -> Result<Option<Event>, ProtocolError> {
        let frame = self.frame.expect("a frame is in progress");
        if frame.remaining > 0 {
            return Ok(None);
        }
        self.frame = None;
        let event = match frame.opcode {
            OpCode::Ping => Event::Ping(std::mem::take(&mut self.control)),
            OpCode::Pong => Event::Pong(std::mem::take(&mut self.control)),
            OpCode::Close => Event::Close(CloseFrame::parse(&self.control)?),
            _ if !frame.fin => return Ok(None),
            _ => Event::Data(self.finish_message()?),
        };
        Ok(Some(event))
    }

    fn finish_message(&mut self) -> Result<Message, ProtocolError> {
        let partial = self.partial.take().expect("a message is in progress");
        let data = if partial.compressed {
            let inflater = self
                .inflater
                .as_mut()
                .expect("RSV1 is refused without deflate");
            let mut out = Vec::with_capacity(self.msg.len() * 2);
            inflater.decompress(&self.msg, &mut out, self.max_message)?;
            self.msg.clear();
            out
        } else {
            std::mem::take(&mut self.msg)
        };
        if partial.text {
            String::from_utf8(data)
                .map(Message::Text)
                .map_err(|_| ProtocolError::InvalidUtf8)
        } else {
            Ok(Message::Binary(data))
        }
    }
}

/// Why a direct read failed.
#[derive(Debug)]
pub(crate) enum DirectError {
    Io(io::Error),
    Protocol(ProtocolError),
}

#[cfg(test)]
mod tests;
