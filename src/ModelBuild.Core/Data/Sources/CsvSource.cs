using System.Globalization;
using System.Text;
using ModelBuild.Diagnostics;
using ModelBuild.Onnx;

namespace ModelBuild.Data.Sources;

/// <summary>
/// A CSV with a header row: every column except the label column is a numeric feature, and a row's features
/// (in file order) are one sample of one model input. Opening scans the file once (checks every row, keeps
/// only the labels); <see cref="Batches"/> reads it again, a batch of rows at a time.
/// Malformed files (ragged rows, non-numbers, a line over <see cref="MaxLineChars"/>) are MB2010 with the line.
/// </summary>
public sealed class CsvSource : IEvaluationSource
{
    /// <summary>Longest line accepted: a row of 100k wide features fits; a hostile file without newlines does not.</summary>
    public const int MaxLineChars = 16 << 20;

    private readonly string _path;
    private readonly TensorInfo _input;
    private readonly long[] _sampleShape;
    private readonly int[] _featureColumns;
    private readonly int _columns;

    private CsvSource(string path, TensorInfo input, long[] sampleShape, int[] featureColumns, int columns, NdArray? labels, int count)
    {
        _path = path;
        _input = input;
        _sampleShape = sampleShape;
        _featureColumns = featureColumns;
        _columns = columns;
        Labels = labels;
        Count = count;
    }

    public int Count { get; }
    public NdArray? Labels { get; }

    public static CsvSource Open(string path, string labelColumn, string? inputName, IReadOnlyList<TensorInfo> modelInputs,
        int? cap, SourceLocation location)
    {
        var input = SampleShape.Target(modelInputs, inputName, path, location);
        SampleShape.CheckFloat(input, path, location);
        using var reader = OpenReader(path);
        var lineNo = 0;
        var header = NextRow(reader, path, ref lineNo) ?? throw SampleShape.Unreadable(path, "the file is empty; a header row " +
            "naming the columns comes first");
        var labelIndex = Array.FindIndex(header, h => h == labelColumn);
        var features = Enumerable.Range(0, header.Length).Where(i => i != labelIndex).ToArray();
        if (features.Length == 0)
            throw SampleShape.Unreadable(path, "it has no feature columns besides the label column");
        var shape = SampleShape.Fit(input, [features.Length], path, location);

        var labels = new List<long>();
        var count = 0;
        while ((cap is null || count < cap) && NextRow(reader, path, ref lineNo) is { } row)
        {
            CheckRow(row, header.Length, path, lineNo);
            foreach (var c in features) Parse(row[c], path, lineNo, c);
            if (labelIndex >= 0)
            {
                if (!long.TryParse(row[labelIndex], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var label))
                    throw SampleShape.Unreadable(path, $"line {lineNo}: label '{Clip(row[labelIndex])}' in column '{labelColumn}' " +
                        $"is not an integer class index");
                labels.Add(label);
            }
            count++;
        }
        if (count == 0) throw SampleShape.Mismatch(location, $"'{path}' holds no samples.");
        var labelArray = labelIndex >= 0 ? NdArray.Of(labels.ToArray(), labels.Count) : null;
        return new CsvSource(path, input, shape, features, header.Length, labelArray, count);
    }

    public IEnumerable<IReadOnlyDictionary<string, NdArray>> Batches(int batchSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        using var reader = OpenReader(_path);
        var lineNo = 0;
        NextRow(reader, _path, ref lineNo);
        var rowSize = _featureColumns.Length;
        for (var start = 0; start < Count; start += batchSize)
        {
            var size = Math.Min(batchSize, Count - start);
            var values = new float[size * rowSize];
            for (var r = 0; r < size; r++)
            {
                var row = NextRow(reader, _path, ref lineNo)
                    ?? throw SampleShape.Unreadable(_path, $"the file changed while it was read (ends at line {lineNo})");
                CheckRow(row, _columns, _path, lineNo);
                for (var c = 0; c < rowSize; c++)
                    values[r * rowSize + c] = (float)Parse(row[_featureColumns[c]], _path, lineNo, _featureColumns[c]);
            }
            yield return new Dictionary<string, NdArray>(StringComparer.Ordinal)
            {
                [_input.Name] = SampleShape.ToInputType(_input, [size, .. _sampleShape], values),
            };
        }
    }

    private static StreamReader OpenReader(string path)
    {
        try
        {
            return new StreamReader(path, Encoding.UTF8, detectEncodingFromByteOrderMarks: true, bufferSize: 1 << 16);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw SampleShape.Unreadable(path, e.Message.TrimEnd('.'), e);
        }
    }

    private static void CheckRow(string[] row, int columns, string path, int lineNo)
    {
        if (row.Length != columns)
            throw SampleShape.Unreadable(path, $"line {lineNo} has {row.Length} values but the header names {columns} columns");
    }

    private static double Parse(string text, string path, int lineNo, int column)
    {
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v)) return v;
        throw SampleShape.Unreadable(path, $"line {lineNo}, column {column + 1}: '{Clip(text)}' is not a number");
    }

    private static string Clip(string s) => s.Length <= 40 ? s : s[..40] + "…";

    /// <summary>The next non-empty line split on commas (quotes around a field are dropped), or null at the end.</summary>
    private static string[]? NextRow(StreamReader reader, string path, ref int lineNo)
    {
        var line = new StringBuilder();
        while (true)
        {
            line.Clear();
            int ch;
            while ((ch = reader.Read()) >= 0 && ch != '\n')
            {
                if (line.Length >= MaxLineChars)
                    throw SampleShape.Unreadable(path, $"line {lineNo + 1} is longer than {MaxLineChars} characters");
                line.Append((char)ch);
            }
            if (ch < 0 && line.Length == 0) return null;
            lineNo++;
            var text = line.ToString().TrimEnd('\r');
            if (text.Trim().Length == 0)
            {
                if (ch < 0) return null;
                continue;
            }
            return text.Split(',').Select(f => f.Trim().Trim('"')).ToArray();
        }
    }
}
