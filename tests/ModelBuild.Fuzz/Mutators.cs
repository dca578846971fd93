using System.IO.Compression;
using System.Text;

namespace ModelBuild.Fuzz;

/// <summary>
/// Mutations, stacked 1–4 at a time. Byte-level for binary formats; for zips (TorchScript, npz) mostly inside an
/// entry and then re-zipped, since a byte flip in a zip is almost always caught by the CRC before the real parser
/// (pickle, .npy header) sees anything.
/// </summary>
public static class Mutators
{
    private static readonly byte[] Interesting = [0, 1, 0x7f, 0x80, 0xff, 0xfe, (byte)'(', (byte)')', (byte)',', (byte)'\n', (byte)'.', (byte)'\''];
    private static readonly long[] InterestingNumbers = [0, 1, -1, 255, 256, 65535, int.MaxValue, uint.MaxValue, long.MaxValue, long.MinValue, 1L << 40, 1L << 31];

    public static byte[] Bytes(byte[] input, Random random, IReadOnlyList<byte[]> seeds)
    {
        var data = new List<byte>(input);
        for (var n = random.Next(1, 5); n > 0; n--) Mutate(data, random, seeds);
        return data.ToArray();
    }

    private static void Mutate(List<byte> data, Random random, IReadOnlyList<byte[]> seeds)
    {
        if (data.Count == 0) { data.Add((byte)random.Next(256)); return; }
        var at = random.Next(data.Count);
        switch (random.Next(10))
        {
            case 0: data[at] ^= (byte)(1 << random.Next(8)); break;
            case 1: data[at] = Interesting[random.Next(Interesting.Length)]; break;
            case 2: data[at] = (byte)random.Next(256); break;
            case 3: data.RemoveRange(at, Math.Min(data.Count - at, random.Next(1, 64))); break;
            case 4: data.InsertRange(at, Enumerable.Range(0, random.Next(1, 16)).Select(_ => (byte)random.Next(256))); break;
            case 5: // a little-endian integer of an interesting size
                var value = BitConverter.GetBytes(InterestingNumbers[random.Next(InterestingNumbers.Length)]);
                for (var i = 0; i < (random.Next(2) == 0 ? 4 : 8) && at + i < data.Count; i++) data[at + i] = value[i];
                break;
            case 6: data.RemoveRange(at, data.Count - at); break; // truncate
            case 7: // duplicate a chunk
                var len = Math.Min(data.Count - at, random.Next(1, 256));
                data.InsertRange(random.Next(data.Count), data.GetRange(at, len));
                break;
            case 8: // splice from another seed
                var other = seeds[random.Next(seeds.Count)];
                if (other.Length == 0) break;
                var from = random.Next(other.Length);
                data.InsertRange(at, other.Skip(from).Take(random.Next(1, 128)));
                break;
            default: // varint-ish: protobuf lengths and tags
                data[at] = (byte)(0x80 | random.Next(128));
                break;
        }
    }

    private static readonly string[] YamlTokens =
    [
        "&a ", "*a", "[", "]", "{", "}", ": ", "- ", "\n  ", "\n", "!!str ", "!!binary ", "'", "\"", "%YAML 1.2\n", "---\n", "...\n", "? ",
        "|\n  ", ">-\n  ", "#", "~", "null", "1e400", "-0", "0x10", ".inf", ".nan", "<<: *a", "\t", "\u00e9", "\ud83d\ude00", "\0", "@", "`",
        "name: ", "models:", "variants:", "checks:", "schema: 1", "shape: [", "9999999999999999999999", "\\u0000",
    ];

    /// <summary>Text formats: byte mutations plus YAML tokens and line shuffles.</summary>
    public static byte[] Text(byte[] input, Random random, IReadOnlyList<byte[]> seeds)
    {
        if (random.Next(3) == 0) return Bytes(input, random, seeds);
        var lines = Encoding.UTF8.GetString(input).Split('\n').ToList();
        for (var n = random.Next(1, 5); n > 0; n--)
        {
            var at = random.Next(lines.Count);
            switch (random.Next(5))
            {
                case 0:
                    var column = random.Next(lines[at].Length + 1);
                    lines[at] = lines[at].Insert(column, YamlTokens[random.Next(YamlTokens.Length)]);
                    break;
                case 1: lines.RemoveAt(at); if (lines.Count == 0) lines.Add(""); break;
                case 2: lines.Insert(random.Next(lines.Count + 1), lines[at]); break;
                case 3: lines[at] = new string(' ', random.Next(12)) + lines[at].TrimStart(); break;
                default:
                    var b = random.Next(lines.Count);
                    (lines[at], lines[b]) = (lines[b], lines[at]);
                    break;
            }
        }
        return Encoding.UTF8.GetBytes(string.Join('\n', lines));
    }

    /// <summary>.npy: the header dict is text, so mutate it as text half the time.</summary>
    public static byte[] NpyHeader(byte[] input, Random random, IReadOnlyList<byte[]> seeds)
    {
        if (input.Length < 12 || random.Next(2) == 0) return Bytes(input, random, seeds);
        var headerEnd = Math.Min(input.Length, 10 + (input[8] | input[9] << 8));
        var header = Encoding.Latin1.GetString(input, 10, headerEnd - 10);
        string[] tokens = ["(", ")", ",", "0", "-1", "99999999999", "9223372036854775807", "'<f4'", "'>i8'", "'|b1'", "'<U8'", "'O'", "True", "None", "{", "}", "'shape'", " "];
        for (var n = random.Next(1, 4); n > 0; n--)
        {
            var at = random.Next(header.Length + 1);
            header = random.Next(3) == 0 && header.Length > 0
                ? header.Remove(Math.Min(at, header.Length - 1), 1)
                : header.Insert(at, tokens[random.Next(tokens.Length)]);
        }
        var bytes = Encoding.Latin1.GetBytes(header);
        var result = new byte[10 + bytes.Length + input.Length - headerEnd];
        input.AsSpan(0, 8).CopyTo(result);
        // Keep the declared header length honest half the time, so the parser gets past the framing.
        var declared = random.Next(2) == 0 ? bytes.Length : headerEnd - 10;
        result[8] = (byte)declared;
        result[9] = (byte)(declared >> 8);
        bytes.CopyTo(result, 10);
        input.AsSpan(headerEnd).CopyTo(result.AsSpan(10 + bytes.Length));
        return result;
    }

    /// <summary>Zips: mutate one entry's content (or name) and re-zip with valid CRCs; sometimes the raw bytes.</summary>
    public static byte[] ZipEntries(byte[] input, Random random, IReadOnlyList<byte[]> seeds)
    {
        if (random.Next(5) == 0) return Bytes(input, random, seeds);
        List<(string Name, byte[] Data)> entries;
        try
        {
            using var zip = new ZipArchive(new MemoryStream(input), ZipArchiveMode.Read);
            entries = zip.Entries.Select(e =>
            {
                using var s = e.Open();
                using var copy = new MemoryStream();
                s.CopyTo(copy);
                return (e.FullName, copy.ToArray());
            }).ToList();
        }
        catch (Exception e) when (e is InvalidDataException or IOException or NotSupportedException or ArgumentException)
        {
            return Bytes(input, random, seeds);
        }
        if (entries.Count == 0) return Bytes(input, random, seeds);

        // Pickles and .npy headers are where the parsing is; storages are just bytes.
        var preferred = entries.Select((e, i) => (e, i)).Where(p => p.e.Name.EndsWith(".pkl", StringComparison.Ordinal) || p.e.Name.EndsWith(".npy", StringComparison.Ordinal)).Select(p => p.i).ToList();
        var index = preferred.Count > 0 && random.Next(4) != 0 ? preferred[random.Next(preferred.Count)] : random.Next(entries.Count);
        var (name, data) = entries[index];
        switch (random.Next(10))
        {
            case 0: entries[index] = (MutateName(name, random), data); break;
            case 1: entries.RemoveAt(index); break;
            case 2: entries.Add(entries[index]); break; // duplicate name
            default:
                entries[index] = (name, name.EndsWith(".npy", StringComparison.Ordinal) ? NpyHeader(data, random, seeds) : Bytes(data, random, seeds));
                break;
        }
        using var output = new MemoryStream();
        using (var zip = new ZipArchive(output, ZipArchiveMode.Create, leaveOpen: true))
            foreach (var (n, d) in entries.Where(e => e.Name.Length > 0))
            {
                using var s = zip.CreateEntry(n, random.Next(3) == 0 ? CompressionLevel.Fastest : CompressionLevel.NoCompression).Open();
                s.Write(d);
            }
        return output.ToArray();
    }

    private static string MutateName(string name, Random random)
    {
        string[] names = ["../", "/", "..", ".", "\\", ":", "\0", "data/", "constants/", "x/", "data.pkl", "", "//"];
        var at = random.Next(name.Length + 1);
        return random.Next(2) == 0 ? name.Insert(at, names[random.Next(names.Length)]) : name[..at];
    }
}
