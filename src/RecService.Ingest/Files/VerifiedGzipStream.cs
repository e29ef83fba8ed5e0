using System.IO.Compression;
using System.IO.Hashing;
using System.Buffers.Binary;

namespace RecService.Ingest.Files;

/// <summary>
/// Decompresses gzip (RFC 1952) member after member and checks each member's trailer (CRC-32 and length), so a
/// file cut short or corrupted fails with <see cref="InvalidDataException"/>. .NET's GZipStream returns what it
/// could decode and no error when the input ends early, so a half-written file would read as a complete one.
/// Each member is inflated as raw deflate; its trailer is found right after the deflate data, which lies within the
/// last input handed to the inflater (it asks for more only once it has used all it had).
/// </summary>
internal sealed class VerifiedGzipStream(Stream compressed) : Stream
{
    private const int TrailerBytes = 8;
    private readonly RewindableInput _input = new(compressed);
    private readonly Crc32 _crc = new();
    private DeflateStream? _member;
    private long _memberStart;
    private uint _memberLength;
    private int _members;
    private bool _finished;

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(Span<byte> buffer)
    {
        if (buffer.IsEmpty) return 0;
        while (!_finished)
        {
            if (_member is null)
            {
                if (!StartMember()) break;
                continue;
            }
            int read;
            try
            {
                read = _member.Read(buffer);
            }
            catch (InvalidDataException ex)
            {
                throw new InvalidDataException($"corrupt gzip data in member {_members} (starting at byte {_memberStart}): {ex.Message}", ex);
            }
            if (read > 0)
            {
                _crc.Append(buffer[..read]);
                _memberLength += (uint)read;
                return read;
            }
            FinishMember();
        }
        _finished = true;
        return 0;
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    /// <summary>Reads the next member's header; false at the end of the input after at least one member.</summary>
    private bool StartMember()
    {
        _memberStart = _input.Offset;
        var first = _input.ReadByte();
        if (first < 0)
        {
            if (_members == 0) throw new InvalidDataException("empty file, not gzip (expected at least one gzip member)");
            return false;
        }
        var second = _input.ReadByte();
        if (first != 0x1f || second != 0x8b)
        {
            throw new InvalidDataException(_members == 0
                ? "not a gzip file (no gzip header)"
                : $"unexpected data after gzip member {_members} at byte {_memberStart} (not a gzip header)");
        }
        var method = RequiredByte();
        var flags = RequiredByte();
        if (method != 8) throw new InvalidDataException($"gzip member {_members + 1} uses compression method {method}; only deflate (8) is supported");
        if ((flags & 0xE0) != 0) throw new InvalidDataException($"gzip member {_members + 1} has reserved header flags set (corrupt header)");
        for (var i = 0; i < 6; i++) RequiredByte(); // modification time, extra flags, operating system
        if ((flags & 0x04) != 0)
        {
            var extra = RequiredByte() | (RequiredByte() << 8);
            for (var i = 0; i < extra; i++) RequiredByte();
        }
        if ((flags & 0x08) != 0) SkipZeroTerminated(); // original file name
        if ((flags & 0x10) != 0) SkipZeroTerminated(); // comment
        if ((flags & 0x02) != 0)
        {
            RequiredByte();
            RequiredByte(); // header CRC-16
        }
        _members++;
        _crc.Reset();
        _memberLength = 0;
        _input.StartInflating();
        _member = new DeflateStream(_input, CompressionMode.Decompress, leaveOpen: true);
        return true;
    }

    /// <summary>The member's deflate data ended (or the input did): its trailer must follow and match what was inflated.</summary>
    private void FinishMember()
    {
        _input.EnsureAfterHandout(TrailerBytes);
        if (!_input.SkipThrough(_crc.GetCurrentHashAsUInt32(), _memberLength))
        {
            throw new InvalidDataException(
                $"truncated or corrupt gzip file: member {_members} (starting at byte {_memberStart}) ends without a matching CRC-32 and length " +
                $"after {_memberLength} bytes (the file was cut short or damaged)");
        }
        _member!.Dispose();
        _member = null;
    }

    private byte RequiredByte()
    {
        var b = _input.ReadByte();
        return b >= 0 ? (byte)b : throw new InvalidDataException($"truncated gzip file: header of member {_members + 1} cut short");
    }

    private void SkipZeroTerminated()
    {
        while (RequiredByte() != 0) { }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _member?.Dispose();
            compressed.Dispose();
        }
        base.Dispose(disposing);
    }

    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    /// <summary>
    /// The compressed bytes as the inflater reads them, keeping the last ones handed out so the reader can step back
    /// to where the deflate data really ended (the inflater reads ahead and does not say how far).
    /// </summary>
    private sealed class RewindableInput(Stream source) : Stream
    {
        private const int MaxHandout = 1 << 16;
        private readonly byte[] _buffer = new byte[4 * MaxHandout];
        private long _bufferOffset; // offset in the file of _buffer[0]
        private int _position;      // next byte not yet handed out
        private int _end;           // bytes valid in the buffer
        private int _handoutStart;  // where the inflater's unused input can begin
        private bool _eof;

        /// <summary>The offset in the file of the next byte not handed out.</summary>
        public long Offset => _bufferOffset + _position;

        public void StartInflating() => _handoutStart = _position;

        public override int ReadByte()
        {
            if (_position == _end && !Fill(_position)) return -1;
            return _buffer[_position++];
        }

        public override int Read(Span<byte> destination)
        {
            // Everything handed out before was used: the inflater asks for input only when it has none left.
            if (_position == _end && !Fill(_position)) return 0;
            _handoutStart = _position;
            var n = Math.Min(Math.Min(destination.Length, _end - _position), MaxHandout);
            _buffer.AsSpan(_position, n).CopyTo(destination);
            _position += n;
            return n;
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        /// <summary>Reads ahead so that <paramref name="count"/> bytes past those handed out are buffered, when the input has them.</summary>
        public void EnsureAfterHandout(int count)
        {
            while (_end - _position < count && Fill(_handoutStart)) { }
        }

        /// <summary>Finds the trailer (<paramref name="crc"/>, <paramref name="length"/>) where the unused input of the last handout can begin and moves past it.</summary>
        public bool SkipThrough(uint crc, uint length)
        {
            Span<byte> trailer = stackalloc byte[TrailerBytes];
            BinaryPrimitives.WriteUInt32LittleEndian(trailer, crc);
            BinaryPrimitives.WriteUInt32LittleEndian(trailer[4..], length);
            var searched = _buffer.AsSpan(_handoutStart, Math.Min(_end, _position + trailer.Length) - _handoutStart);
            var at = searched.IndexOf(trailer);
            if (at < 0) return false;
            _position = _handoutStart + at + trailer.Length;
            _handoutStart = _position;
            return true;
        }

        /// <summary>Reads more input, keeping the bytes from <paramref name="keepFrom"/> on; false at the end of the input.</summary>
        private bool Fill(int keepFrom)
        {
            if (_eof) return false;
            if (_buffer.Length - _end < MaxHandout)
            {
                var kept = _end - keepFrom;
                _buffer.AsSpan(keepFrom, kept).CopyTo(_buffer);
                _bufferOffset += keepFrom;
                _position -= keepFrom;
                _handoutStart = Math.Max(0, _handoutStart - keepFrom);
                _end = kept;
            }
            var read = source.Read(_buffer, _end, _buffer.Length - _end);
            if (read == 0)
            {
                _eof = true;
                return false;
            }
            _end += read;
            return true;
        }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
