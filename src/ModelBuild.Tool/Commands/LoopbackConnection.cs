using System.Buffers.Text;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace ModelBuild.Tool.Commands;

/// <summary>
/// bench-serve's load generator: one keep-alive HTTP/1.1 connection that sends a request preformatted once (request
/// line, headers and body in one buffer) and reads the answer with blocking socket calls, like wrk or Triton's
/// perf_analyzer. Against the 1 ms MLP it spent ~100 µs of CPU per request where <see cref="HttpClient"/> spent
/// 390–470 µs, cost that would otherwise be charged to the server: at one client every microsecond of the client is
/// on the request's path.
/// Only what a benchmark needs: Content-Length bodies (the server always sends one), no chunking, no redirects.
/// </summary>
internal sealed class LoopbackConnection : IDisposable
{
    private readonly Socket _socket;
    private readonly byte[] _request;
    private byte[] _buffer = new byte[64 * 1024];

    public LoopbackConnection(Uri url, string contentType, IReadOnlyDictionary<string, string> headers, byte[] body)
    {
        var head = new StringBuilder()
            .Append($"POST {url.PathAndQuery} HTTP/1.1\r\nHost: {url.Authority}\r\nContent-Type: {contentType}\r\nContent-Length: {body.Length}\r\n");
        foreach (var (name, value) in headers) head.Append($"{name}: {value}\r\n");
        head.Append("\r\n");
        _request = [.. Encoding.ASCII.GetBytes(head.ToString()), .. body];
        _socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        _socket.Connect(new IPEndPoint(IPAddress.Parse(url.Host), url.Port));
    }

    /// <summary>Sends the request and reads the whole response; returns its status code.</summary>
    public int Send()
    {
        _socket.Send(_request);
        var have = 0;
        var headerEnd = -1;
        var total = -1;
        var status = 0;
        while (total < 0 || have < total)
        {
            if (have == _buffer.Length) Array.Resize(ref _buffer, _buffer.Length * 2);
            var n = _socket.Receive(_buffer, have, _buffer.Length - have, SocketFlags.None);
            if (n == 0) throw new IOException("the server closed the connection mid-response");
            have += n;
            if (headerEnd >= 0) continue;
            var end = _buffer.AsSpan(0, have).IndexOf("\r\n\r\n"u8);
            if (end < 0) continue;
            headerEnd = end + 4;
            var head = _buffer.AsSpan(0, end);
            // "HTTP/1.1 200 OK"
            if (head.Length < 12 || !Utf8Parser.TryParse(head.Slice(9, 3), out status, out _))
                throw new IOException("the server's answer is not an HTTP/1.1 status line");
            total = headerEnd + ContentLength(head);
        }
        if (have != total) throw new IOException($"the server sent {have - total} bytes after the response");
        return status;
    }

    private static int ContentLength(ReadOnlySpan<byte> head)
    {
        foreach (var range in head.Split("\r\n"u8))
        {
            var line = head[range];
            var colon = line.IndexOf((byte)':');
            if (colon > 0 && Ascii.EqualsIgnoreCase(line[..colon], "Content-Length"u8)
                && Utf8Parser.TryParse(line[(colon + 1)..].Trim((byte)' '), out int length, out _))
                return length;
        }
        throw new IOException("the server's answer has no Content-Length");
    }

    public void Dispose() => _socket.Dispose();
}
