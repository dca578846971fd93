using System.Globalization;
using System.Text;

namespace ModelBuild.Data;

/// <summary>
/// A small BERT-style (uncased) WordPiece tokenizer for generated text inputs: lower-case, strip accents, split on
/// whitespace and punctuation, then greedy longest-match sub-words ("##" continuation) from a vocab.txt, [UNK] when none
/// match. It writes rows of built-in everyday English sentences, so token ids follow a natural frequency distribution
/// instead of a uniform one over the vocabulary (which is mostly rare words and [unused] rows).
/// </summary>
public sealed class WordPieceTokenizer
{
    /// <summary>The file a Hugging Face model folder keeps its WordPiece vocabulary in.</summary>
    public const string VocabularyFile = "vocab.txt";

    /// <summary>
    /// The vocab.txt beside a model file (an exported Hugging Face folder: model.onnx, vocab.txt, tokenizer.json, …),
    /// when it is a WordPiece vocabulary (has [CLS], [SEP] and [UNK]); else null.
    /// </summary>
    public static WordPieceTokenizer? Beside(string? modelPath)
    {
        if (modelPath is null || Path.GetDirectoryName(Path.GetFullPath(modelPath)) is not { } folder) return null;
        var path = Path.Combine(folder, VocabularyFile);
        if (!File.Exists(path)) return null;
        var ids = ReadIds(path);
        return IsWordPiece(ids) ? new WordPieceTokenizer(path, ids) : null;
    }

    /// <summary>The vocabulary file this tokenizer read.</summary>
    public string VocabularyPath { get; }

    /// <summary>The id of [PAD] (0 when the vocabulary has none), written where an attention mask is 0.</summary>
    public long PadId { get; }

    /// <summary>Everyday English text so that token ids follow a natural frequency distribution.</summary>
    private static readonly string[] Sentences =
    [
        "The quick brown fox jumps over the lazy dog near the river bank.",
        "A man is playing a guitar on the street while people walk by.",
        "Machine learning models can be compressed with quantization to run faster on ordinary CPUs.",
        "The weather today is sunny with a light breeze coming from the west.",
        "She ordered a cup of coffee and a slice of chocolate cake at the small cafe.",
        "The city council approved the new budget after a long debate on Tuesday evening.",
        "Children were playing football in the park until it started to rain.",
        "How do I reset my password if I no longer have access to my email account?",
        "The museum opens at nine in the morning and closes at six in the evening.",
        "Scientists discovered a new species of frog in the rainforest of South America.",
        "Please remember to bring your passport and boarding pass to the airport.",
        "The stock market fell sharply after the central bank raised interest rates.",
        "He spent the weekend repairing the old bicycle he found in his grandfather's garage.",
        "What is the best way to learn a new language as an adult?",
        "The hotel room had a beautiful view of the mountains and the lake below.",
        "Our team will present the results of the project at the conference next month.",
    ];

    private readonly Dictionary<string, long> _ids;
    private readonly long _cls, _sep, _unk;

    /// <summary>The built-in sentences in this vocabulary's ids, in order and reversed: encoded once, read per row.</summary>
    private readonly Lazy<long[][]> _sentences, _reversed;

    /// <exception cref="InvalidDataException">The file lacks [CLS], [SEP] or [UNK]: it is no WordPiece vocabulary.</exception>
    public WordPieceTokenizer(string vocabPath) : this(vocabPath, ReadIds(vocabPath))
    {
    }

    private WordPieceTokenizer(string vocabPath, Dictionary<string, long> ids)
    {
        if (!IsWordPiece(ids))
            throw new InvalidDataException($"{vocabPath} is no WordPiece vocabulary: it lacks [CLS], [SEP] or [UNK]");
        VocabularyPath = vocabPath;
        _ids = ids;
        _cls = ids["[CLS]"];
        _sep = ids["[SEP]"];
        _unk = ids["[UNK]"];
        PadId = ids.GetValueOrDefault("[PAD]", 0);
        _sentences = new(() => Sentences.Select(s => Encode(s).ToArray()).ToArray());
        _reversed = new(() => _sentences.Value.Reverse().ToArray());
    }

    private static Dictionary<string, long> ReadIds(string path)
    {
        var ids = new Dictionary<string, long>(StringComparer.Ordinal);
        var index = 0L;
        foreach (var line in File.ReadLines(path)) ids.TryAdd(line.TrimEnd('\r'), index++);
        return ids;
    }

    private static bool IsWordPiece(Dictionary<string, long> ids) =>
        ids.ContainsKey("[CLS]") && ids.ContainsKey("[SEP]") && ids.ContainsKey("[UNK]");

    public List<long> Encode(string text)
    {
        var result = new List<long>();
        foreach (var word in BasicSplit(text))
        {
            var start = 0;
            var pieces = new List<long>();
            while (start < word.Length)
            {
                var end = word.Length;
                long id = -1;
                while (end > start)
                {
                    var piece = (start > 0 ? "##" : "") + word[start..end];
                    if (_ids.TryGetValue(piece, out id)) break;
                    end--;
                }
                if (end == start) { pieces = [_unk]; break; }
                pieces.Add(id);
                start = end;
            }
            result.AddRange(pieces);
        }
        return result;
    }

    /// <summary>
    /// <paramref name="rows"/> rows of exactly <paramref name="length"/> ids: [CLS] sentence tokens … [SEP], each row starting at another sentence.
    /// </summary>
    public long[] Rows(int rows, int length, bool reversed = false)
    {
        var values = new long[rows * length];
        for (var r = 0; r < rows; r++) Row(r, length, length, reversed).CopyTo(values, r * length);
        return values;
    }

    /// <summary>
    /// Row <paramref name="index"/>: [CLS], the sentences from the index-th on, [SEP], in <paramref name="text"/> ids,
    /// then [PAD] up to <paramref name="length"/>.
    /// </summary>
    public long[] Row(int index, int length, int text, bool reversed = false)
    {
        var encoded = reversed ? _reversed.Value : _sentences.Value;
        var row = new List<long> { _cls };
        for (var s = index; row.Count < text - 1; s++) row.AddRange(encoded[s % encoded.Length]);
        var result = row.Take(Math.Max(0, text - 1)).Append(_sep).Take(text).ToList();
        while (result.Count < length) result.Add(PadId);
        return [.. result];
    }

    private static IEnumerable<string> BasicSplit(string text)
    {
        var decomposed = text.ToLowerInvariant().Normalize(NormalizationForm.FormD);
        var word = new StringBuilder();
        foreach (var c in decomposed)
        {
            if (CharUnicodeInfo.GetUnicodeCategory(c) == UnicodeCategory.NonSpacingMark) continue;
            if (char.IsWhiteSpace(c) || char.IsPunctuation(c) || char.IsSymbol(c))
            {
                if (word.Length > 0) { yield return word.ToString(); word.Clear(); }
                if (!char.IsWhiteSpace(c)) yield return c.ToString();
                continue;
            }
            word.Append(c);
        }
        if (word.Length > 0) yield return word.ToString();
    }
}
