using System.IO.Compression;
using System.Runtime.InteropServices;
using System.Text;
using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Onnx;

namespace ModelBuild.TorchScript;

/// <summary>Caps that bound what a (possibly hostile) archive can make the reader allocate or scan.</summary>
public sealed record TorchScriptReaderLimits
{
    public int MaxEntries { get; init; } = 100_000;
    public long MaxPickleBytes { get; init; } = 64L * 1024 * 1024;
    public long MaxCodeFileBytes { get; init; } = 16L * 1024 * 1024;
    public long MaxTotalCodeBytes { get; init; } = 64L * 1024 * 1024;
    /// <summary>One storage (data/&lt;key&gt;) in bytes; also bounded by .NET's array length.</summary>
    public long MaxStorageBytes { get; init; } = 2L * 1024 * 1024 * 1024;
    /// <summary>All materialized tensors together, in bytes.</summary>
    public long MaxTotalTensorBytes { get; init; } = 8L * 1024 * 1024 * 1024;

    public static TorchScriptReaderLimits Default { get; } = new();
}

/// <summary>
/// Reads a TorchScript archive (torch.jit.save) without executing anything from it: a zip whose names are checked
/// before use, pickles interpreted against an allowlist of globals (<see cref="AllowedGlobals"/>), tensors decoded from
/// little-endian storages after their offsets, sizes and strides were checked against the storage. Every failure
/// is a <see cref="ModelBuildException"/> with code MB2001 naming the archive and the entry.
/// </summary>
public static class TorchScriptReader
{
    /// <summary>Callables a pickle may name (REDUCE/NEWOBJ), besides classes under <c>__torch__.</c>.</summary>
    public static IReadOnlySet<string> AllowedGlobals { get; } = new HashSet<string>(StringComparer.Ordinal)
    {
        "torch._utils._rebuild_tensor",
        "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_parameter",
        "torch._utils._rebuild_parameter_with_state",
        "collections.OrderedDict",
        "builtins.set", "builtins.frozenset", "__builtin__.set", "__builtin__.frozenset",
        "_codecs.encode",
        "torch.device",
        "torch.Size",
        "torch.jit._pickle.build_intlist",
        "torch.jit._pickle.build_floatlist",
        "torch.jit._pickle.build_doublelist",
        "torch.jit._pickle.build_boollist",
        "torch.jit._pickle.build_tensorlist",
        "torch.jit._pickle.build_genericlist",
        "torch.jit._pickle.restore_type_tag",
        "torch.jit._pickle.build_tensor_from_id",
    };

    /// <summary>Storage classes (persistent ids only) and the element type they hold.</summary>
    public static IReadOnlyDictionary<string, TensorElementType> StorageTypes { get; } = new Dictionary<string, TensorElementType>
    {
        ["FloatStorage"] = TensorElementType.Float32,
        ["DoubleStorage"] = TensorElementType.Float64,
        ["HalfStorage"] = TensorElementType.Float16,
        ["LongStorage"] = TensorElementType.Int64,
        ["IntStorage"] = TensorElementType.Int32,
        ["ByteStorage"] = TensorElementType.UInt8,
        ["CharStorage"] = TensorElementType.Int8,
        ["BoolStorage"] = TensorElementType.Bool,
    };

    // dtype objects (torch.float32, …) may appear as plain values; they become the string "torch.<name>".
    private static readonly HashSet<string> DTypeNames =
    [
        "float32", "float", "float64", "double", "float16", "half", "bfloat16", "int64", "long", "int32", "int",
        "int16", "short", "int8", "uint8", "bool", "complex64", "complex128",
    ];

    private sealed record StorageType(string Name, TensorElementType? ElementType);
    private sealed record StorageRef(StorageType Type, string Key, long Numel, string Folder);

    public static TorchScriptArchive Read(string path, SourceLocation location) =>
        Read(path, location, TorchScriptReaderLimits.Default);

    public static TorchScriptArchive Read(string path, SourceLocation location, TorchScriptReaderLimits limits)
    {
        var ctx = new Context(path, location, limits);
        try
        {
            using var stream = File.OpenRead(path);
            using var zip = new ZipArchive(stream, ZipArchiveMode.Read);
            return ctx.ReadArchive(zip);
        }
        catch (ModelBuildException) { throw; }
        catch (PickleException e) { throw ctx.Unreadable(e.Message, e); }
        catch (InvalidDataException e) when (ctx.Entry is null)
        {
            throw ctx.Unreadable($"not a TorchScript zip archive ({e.Message.TrimEnd('.')}); save the model with torch.jit.save", e);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException)
        {
            throw new ModelBuildException(DiagnosticCodes.ModelUnreadable, $"cannot open TorchScript model {path}: {e.Message}", location, e);
        }
        catch (Exception e)
        {
            // Corrupt data must surface as MB2001, never as another exception type.
            throw ctx.Unreadable($"{e.Message.TrimEnd('.')} ({e.GetType().Name})", e);
        }
    }

    private sealed class Context(string path, SourceLocation location, TorchScriptReaderLimits limits)
    {
        private readonly Dictionary<string, ZipArchiveEntry> _entries = new(StringComparer.Ordinal);
        private readonly Dictionary<string, Array> _storages = new(StringComparer.Ordinal);
        private string _root = "";
        private bool _bigEndian;
        private long _tensorBytes;

        public string? Entry { get; private set; }

        public ModelBuildException Unreadable(string message, Exception? inner = null) =>
            new(DiagnosticCodes.ModelUnreadable,
                $"TorchScript model {path} is unreadable{(Entry is null ? "" : $" (entry {Entry})")}: {message}", location, inner);

        /// <summary>
        /// PyTorch's own int8 (eager or FX convert, torchvision.models.quantization): its quantized tensors and packed
        /// modules have no float weights to convert, so the user is told which model to save instead.
        /// </summary>
        public ModelBuildException Quantized(string what) =>
            new(DiagnosticCodes.UnsupportedTorchScript,
                $"TorchScript model {path} is already quantized by PyTorch ({what}); ModelBuild converts float models: save the " +
                "model before torch.ao.quantization.convert (the float or fused model) and let a variant quantize it, " +
                "e.g. quantize: { mode: static, calibration: { data: … } } or quantize: { mode: dynamic }", location);

        public TorchScriptArchive ReadArchive(ZipArchive zip)
        {
            if (zip.Entries.Count > limits.MaxEntries)
                throw Unreadable($"{zip.Entries.Count} entries exceed the limit of {limits.MaxEntries}");
            foreach (var e in zip.Entries)
            {
                CheckName(e.FullName);
                if (e.FullName.EndsWith('/')) continue;
                if (!_entries.TryAdd(e.FullName, e)) throw Unreadable($"duplicate entry '{e.FullName}'");
            }

            var dataPkl = _entries.Keys.Where(n => n.EndsWith("/data.pkl", StringComparison.Ordinal) && n.Count(c => c == '/') == 1).ToList();
            if (dataPkl.Count != 1)
                throw Unreadable(dataPkl.Count == 0
                    ? "no <root>/data.pkl entry; is this a TorchScript file (torch.jit.save)?"
                    : "more than one <root>/data.pkl");
            _root = dataPkl[0][..dataPkl[0].IndexOf('/')];
            var stray = _entries.Keys.FirstOrDefault(n => !n.StartsWith(_root + "/", StringComparison.Ordinal));
            if (stray is not null) throw Unreadable($"entry '{stray}' lies outside the archive root '{_root}/'");

            var version = 0;
            if ((Find("version") ?? Find(".data/version")) is { } versionEntry)
            {
                var text = Encoding.ASCII.GetString(ReadEntry(versionEntry, 64)).Trim();
                if (!int.TryParse(text, out version)) throw Unreadable($"version entry is not a number: '{text}'");
            }
            if (Find("byteorder") is { } order)
            {
                var text = Encoding.ASCII.GetString(ReadEntry(order, 16)).Trim();
                _bigEndian = text switch { "little" => false, "big" => true, _ => throw Unreadable($"unknown byteorder '{text}'") };
            }

            var rootValue = Unpickle(Find("data.pkl")!, "data");
            if (rootValue is not ScriptObject root)
                throw Unreadable($"data.pkl holds a {PickleReader.Describe(rootValue)}, not a script module");

            IReadOnlyList<object?> constants = [];
            if (Find("constants.pkl") is { } constEntry)
            {
                var value = Unpickle(constEntry, "constants");
                constants = value as object?[] ?? throw Unreadable($"constants.pkl holds a {PickleReader.Describe(value)}, not a tuple");
            }

            var code = new SortedDictionary<string, string>(StringComparer.Ordinal);
            long codeBytes = 0;
            var prefix = _root + "/code/";
            var strict = new UTF8Encoding(false, true);
            foreach (var (name, entry) in _entries)
            {
                if (!name.StartsWith(prefix, StringComparison.Ordinal) || !name.EndsWith(".py", StringComparison.Ordinal)) continue;
                var bytes = ReadEntry(entry, limits.MaxCodeFileBytes);
                codeBytes += bytes.Length;
                if (codeBytes > limits.MaxTotalCodeBytes)
                    throw Unreadable($"code files exceed {limits.MaxTotalCodeBytes} bytes in total");
                try { code[name[prefix.Length..]] = strict.GetString(bytes); }
                catch (DecoderFallbackException) { throw Unreadable("code file is not valid UTF-8"); }
            }
            Entry = null;

            return new TorchScriptArchive
            {
                Path = path,
                RootFolder = _root,
                Root = root,
                Constants = constants,
                CodeFiles = code,
                FormatVersion = version,
            };
        }

        private ZipArchiveEntry? Find(string relative) => _entries.GetValueOrDefault(_root + "/" + relative);

        private void CheckName(string name)
        {
            // Nothing is extracted, but names are used to find storages: refuse anything a path could misread.
            if (name.Length == 0 || name.Contains('\\') || name.Contains('\0') || name.StartsWith('/') || name.Contains(':')
                || name.Split('/').Any(s => s is ".." or "."))
                throw Unreadable($"entry name '{name}' escapes the archive root or is not a plain relative path");
        }

        private byte[] ReadEntry(ZipArchiveEntry entry, long cap)
        {
            Entry = entry.FullName;
            // Declared sizes are checked before allocating; the stream then must match them exactly.
            if (entry.Length > cap || entry.Length > Array.MaxLength)
                throw Unreadable($"entry declares {entry.Length} bytes, over the limit of {Math.Min(cap, Array.MaxLength)}");
            var buffer = new byte[entry.Length];
            using var checkedStream = new Crc32Stream(entry.Open());
            try
            {
                checkedStream.ReadExactly(buffer);
            }
            catch (EndOfStreamException)
            {
                throw Unreadable($"entry is shorter than its declared {entry.Length} bytes (truncated archive)");
            }
            if (checkedStream.ReadByte() != -1) throw Unreadable($"entry is longer than its declared {entry.Length} bytes");
            if (checkedStream.Crc32 != entry.Crc32)
                throw Unreadable($"CRC-32 mismatch (0x{checkedStream.Crc32:X8}, archive says 0x{entry.Crc32:X8}): the archive is corrupt");
            return buffer;
        }

        private object? Unpickle(ZipArchiveEntry entry, string storageFolder)
        {
            var bytes = ReadEntry(entry, limits.MaxPickleBytes);
            var pickle = entry.FullName;
            var reader = new PickleReader(bytes,
                pid => PersistentLoad(pid, storageFolder),
                ResolveGlobal,
                Call,
                Build);
            var value = reader.Load();
            Entry = pickle;
            return value;
        }

        private object? ResolveGlobal(PickleGlobal g)
        {
            if (QuantizedGlobal(g)) throw Quantized($"pickle global '{g.FullName}'");
            if (g.Module == "__torch__" || g.Module.StartsWith("__torch__.", StringComparison.Ordinal)) return g;
            if (AllowedGlobals.Contains(g.FullName)) return g;
            if (g.Module is "torch" or "torch.storage" or "torch.cuda" && g.Name.EndsWith("Storage", StringComparison.Ordinal))
            {
                if (g.Module == "torch.cuda") throw Unreadable($"global '{g.FullName}': CUDA storages are not supported; save the model on CPU");
                return new StorageType(g.FullName, StorageTypes.TryGetValue(g.Name, out var t) ? t : null);
            }
            if (g.Module == "torch" && DTypeNames.Contains(g.Name)) return $"torch.{g.Name}";
            throw Unreadable($"pickle global '{g.FullName}' is not allowed (only TorchScript's own tensor, storage and container globals are); " +
                $"the file may be malicious or not a TorchScript model");
        }

        /// <summary>Quantized tensors, their schemes, dtypes and storages, and the packed-parameter classes of quantized modules.</summary>
        private static bool QuantizedGlobal(PickleGlobal g) =>
            g.FullName is "torch._utils._rebuild_qtensor" or "torch.per_tensor_affine" or "torch.per_channel_affine"
                or "torch.per_channel_affine_float_qparams" or "torch.quint8" or "torch.qint8" or "torch.qint32" or "torch.quint4x2"
                or "torch.quint2x4"
            || g.Module is "torch" or "torch.storage" && g.Name is "QUInt8Storage" or "QInt8Storage" or "QInt32Storage" or "QUInt4x2Storage"
            || g.Module.StartsWith("__torch__.torch.classes.quantized", StringComparison.Ordinal);

        private object? PersistentLoad(object? pid, string folder)
        {
            if (pid is not object?[] { Length: 5 } t || t[0] is not "storage")
                throw Unreadable($"unsupported persistent id {PickleReader.Describe(pid)}; expected ('storage', type, key, location, numel)");
            if (t[1] is not StorageType type) throw Unreadable($"persistent id names storage type {PickleReader.Describe(t[1])}");
            if (t[2] is not string key || key.Length == 0 || key.Contains('/') || key is "." or "..")
                throw Unreadable($"persistent id has a bad storage key {PickleReader.Describe(t[2])}");
            if (t[4] is not long numel || numel < 0) throw Unreadable("persistent id has a bad element count");
            if (type.ElementType is null) throw Unreadable($"tensor element type {type.Name} is not supported");
            return new StorageRef(type, key, numel, folder);
        }

        private object? Call(PickleGlobal g, object?[] args)
        {
            if (g.Module == "__torch__" || g.Module.StartsWith("__torch__.", StringComparison.Ordinal))
            {
                if (args.Length != 0) throw Unreadable($"class {g.FullName} is constructed with arguments");
                return new ScriptObject { TypeName = g.FullName, Attributes = new Dictionary<string, object?>(StringComparer.Ordinal) };
            }
            switch (g.FullName)
            {
                case "torch._utils._rebuild_tensor_v2" when args.Length is 6 or 7:
                case "torch._utils._rebuild_tensor" when args.Length == 4:
                    return RebuildTensor(args[0], args[1], args[2], args[3], args.Length > 4 && args[4] is true);
                case "torch._utils._rebuild_parameter" when args.Length == 3:
                case "torch._utils._rebuild_parameter_with_state" when args.Length == 4:
                    if (args[0] is not TorchTensor data) throw Unreadable($"{g.FullName} of a {PickleReader.Describe(args[0])}");
                    return new TorchTensor { ElementType = data.ElementType, Shape = data.Shape, Values = data.Values,
                        RequiresGrad = args[1] is true };
                case "collections.OrderedDict":
                    var dict = new Dictionary<object, object?>();
                    if (args.Length == 1 && args[0] is IEnumerable<object?> pairs)
                        foreach (var p in pairs)
                            if (p is object?[] { Length: 2 } kv && kv[0] is not null) dict[kv[0]!] = kv[1];
                            else throw Unreadable("OrderedDict needs (key, value) pairs");
                    else if (args.Length != 0) throw Unreadable("OrderedDict with unexpected arguments");
                    return dict;
                case "builtins.set" or "builtins.frozenset" or "__builtin__.set" or "__builtin__.frozenset":
                    return args.Length == 0 ? new List<object?>() : args[0] is IEnumerable<object?> items ? items.ToList()
                        : throw Unreadable("set of a non-sequence");
                case "_codecs.encode" when args is [string s, "latin1" or "latin-1"]:
                    return Encoding.Latin1.GetBytes(s);
                case "torch.device" when args is [string] or [string, long]:
                    return args.Length == 1 ? args[0] : $"{args[0]}:{args[1]}";
                case "torch.Size" when args is [object?[] dims]:
                    return dims;
                case "torch.jit._pickle.build_intlist" or "torch.jit._pickle.build_floatlist" or "torch.jit._pickle.build_doublelist"
                    or "torch.jit._pickle.build_boollist" or "torch.jit._pickle.build_tensorlist" or "torch.jit._pickle.build_genericlist"
                    when args is [List<object?> list]:
                    return list;
                case "torch.jit._pickle.restore_type_tag" when args.Length == 2:
                    return args[0];
                case "torch.jit._pickle.build_tensor_from_id":
                    throw Unreadable("build_tensor_from_id refers to an external tensor table, which a torch.jit.save archive does not have");
            }
            throw Unreadable($"{g.FullName} called with {args.Length} unexpected argument(s)");
        }

        private object? Build(object? target, object? state)
        {
            if (target is ScriptObject obj && obj.Attributes is Dictionary<string, object?> attrs)
            {
                if (state is Dictionary<object, object?> dict)
                {
                    foreach (var (k, v) in dict)
                        attrs[k as string ?? throw Unreadable($"attribute name of {obj.TypeName} is a {PickleReader.Describe(k)}")] = v;
                }
                else
                {
                    // Classes with __getstate__/__setstate__ keep their state opaque: hand it over as is.
                    attrs["__state__"] = state;
                }
                return obj;
            }
            if (state is null || state is Dictionary<object, object?> { Count: 0 }) return target;
            throw Unreadable($"BUILD on a {PickleReader.Describe(target)} is not supported");
        }

        private TorchTensor RebuildTensor(object? storageArg, object? offsetArg, object? sizeArg, object? strideArg, bool requiresGrad)
        {
            if (storageArg is not StorageRef storage) throw Unreadable($"tensor storage is a {PickleReader.Describe(storageArg)}");
            if (offsetArg is not long offset || offset < 0) throw Unreadable("tensor storage offset is not a non-negative integer");
            var size = Longs(sizeArg, "size");
            var stride = Longs(strideArg, "stride");
            if (size.Length != stride.Length) throw Unreadable($"tensor has {size.Length} sizes but {stride.Length} strides");
            if (size.Any(s => s < 0) || stride.Any(s => s < 0)) throw Unreadable("tensor has a negative size or stride");
            var type = storage.Type.ElementType!.Value;
            var elementSize = ElementSize(type);

            // Everything is checked against the declared storage before a byte is allocated.
            long numel;
            try { numel = NdArray.ElementCount(size); }
            catch (OverflowException) { throw Unreadable($"tensor size [{string.Join(",", size)}] overflows"); }
            if (numel > Array.MaxLength || numel * elementSize > limits.MaxStorageBytes)
                throw Unreadable($"tensor size [{string.Join(",", size)}] ({numel} elements) exceeds the limit");
            if (numel > 0)
            {
                long last;
                try
                {
                    last = offset;
                    for (var i = 0; i < size.Length; i++) last = checked(last + (size[i] - 1) * stride[i]);
                }
                catch (OverflowException) { throw Unreadable("tensor strides overflow"); }
                if (last >= storage.Numel)
                    throw Unreadable($"tensor (offset {offset}, size [{string.Join(",", size)}], stride [{string.Join(",", stride)}]) reaches " +
                        $"element {last} of a storage of {storage.Numel} elements");
            }
            _tensorBytes += numel * elementSize;
            if (_tensorBytes > limits.MaxTotalTensorBytes) throw Unreadable($"tensors exceed {limits.MaxTotalTensorBytes} bytes in total");

            var source = numel == 0 ? Array.CreateInstance(NdArray.ClrType(type), 0) : LoadStorage(storage, type, elementSize);
            var values = Gather(source, type, offset, size, stride, numel);
            return new TorchTensor { ElementType = type, Shape = size, Values = new NdArray(type, size, values), RequiresGrad = requiresGrad };
        }

        private long[] Longs(object? v, string what)
        {
            if (v is not object?[] items) throw Unreadable($"tensor {what} is a {PickleReader.Describe(v)}, not a tuple");
            if (items.Length > 64) throw Unreadable($"tensor has {items.Length} dimensions");
            return items.Select(x => x is long l ? l : throw Unreadable($"tensor {what} holds a {PickleReader.Describe(x)}")).ToArray();
        }

        private Array LoadStorage(StorageRef storage, TensorElementType type, int elementSize)
        {
            var name = $"{storage.Folder}/{storage.Key}";
            if (_storages.TryGetValue(name, out var cached))
            {
                if (cached.LongLength != storage.Numel || cached.GetType().GetElementType() != NdArray.ClrType(type))
                    throw Unreadable($"storage {name} is used with two different types or sizes");
                return cached;
            }
            var entry = Find(name) ?? throw Unreadable($"storage entry {_root}/{name} is missing");
            var expected = storage.Numel * elementSize;
            if (storage.Numel > Array.MaxLength || expected > limits.MaxStorageBytes)
                throw Unreadable($"storage {name} declares {storage.Numel} elements, over the limit");
            if (entry.Length != expected)
            {
                Entry = entry.FullName;
                throw Unreadable($"storage holds {entry.Length} bytes but {storage.Numel} {type} elements need {expected}");
            }
            var bytes = ReadEntry(entry, limits.MaxStorageBytes);
            var array = Decode(bytes, type, (int)storage.Numel);
            _storages[name] = array;
            return array;
        }

        private Array Decode(byte[] bytes, TensorElementType type, int count)
        {
            switch (type)
            {
                case TensorElementType.Bool:
                    var b = new bool[count];
                    for (var i = 0; i < count; i++) b[i] = bytes[i] != 0;
                    return b;
                case TensorElementType.UInt8:
                    return bytes;
                case TensorElementType.Int8:
                    return MemoryMarshal.Cast<byte, sbyte>(bytes).ToArray();
                case TensorElementType.Float32: return Numbers<float>(bytes, count);
                case TensorElementType.Float64: return Numbers<double>(bytes, count);
                case TensorElementType.Float16: return Numbers<Half>(bytes, count);
                case TensorElementType.Int64: return Numbers<long>(bytes, count);
                case TensorElementType.Int32: return Numbers<int>(bytes, count);
                default: throw Unreadable($"element type {type} is not supported");
            }
        }

        private T[] Numbers<T>(byte[] bytes, int count) where T : unmanaged
        {
            var result = MemoryMarshal.Cast<byte, T>(bytes).ToArray();
            if (result.Length != count) throw Unreadable("storage size mismatch");
            if (_bigEndian == BitConverter.IsLittleEndian)
            {
                // Foreign byte order: reverse each element's bytes in place.
                var raw = MemoryMarshal.AsBytes(result.AsSpan());
                var size = raw.Length / Math.Max(1, count);
                for (var i = 0; i < raw.Length; i += size) raw.Slice(i, size).Reverse();
            }
            return result;
        }

        private static Array Gather(Array source, TensorElementType type, long offset, long[] size, long[] stride, long numel)
        {
            var dest = Array.CreateInstance(NdArray.ClrType(type), numel);
            if (numel == 0) return dest;
            // Contiguous (row-major) tensors are one copy; anything else walks the index odometer.
            var contiguous = true;
            long expect = 1;
            for (var i = size.Length - 1; i >= 0; i--)
            {
                if (size[i] != 1 && stride[i] != expect) { contiguous = false; break; }
                expect *= size[i];
            }
            if (contiguous)
            {
                Array.Copy(source, offset, dest, 0, numel);
                return dest;
            }
            var index = new long[size.Length];
            var src = offset;
            for (long k = 0; k < numel; k++)
            {
                dest.SetValue(source.GetValue(src), k);
                for (var d = size.Length - 1; d >= 0; d--)
                {
                    index[d]++;
                    src += stride[d];
                    if (index[d] < size[d]) break;
                    src -= stride[d] * size[d];
                    index[d] = 0;
                }
            }
            return dest;
        }

        private static int ElementSize(TensorElementType t) => t switch
        {
            TensorElementType.Float32 or TensorElementType.Int32 => 4,
            TensorElementType.Float64 or TensorElementType.Int64 => 8,
            TensorElementType.Float16 => 2,
            _ => 1,
        };
    }
}
