using System.Globalization;
using System.Text;

namespace ModelBuild.Tool.Commands;

/// <summary>
/// A small BERT-style (uncased) WordPiece tokenizer for bench inputs: lower-case, strip accents, split on whitespace
/// and punctuation, then greedy longest-match sub-words ("##" continuation) from a vocab.txt, [UNK] when none match.
/// </summary>
internal sealed class WordPieceTokenizer
{
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

    private readonly Dictionary<string, long> _ids = new(StringComparer.Ordinal);
    private readonly long _cls, _sep, _unk;

    public WordPieceTokenizer(string vocabPath)
    {
        var index = 0L;
        foreach (var line in File.ReadLines(vocabPath)) _ids.TryAdd(line.TrimEnd('\r'), index++);
        _cls = _ids["[CLS]"];
        _sep = _ids["[SEP]"];
        _unk = _ids["[UNK]"];
    }

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
        var encoded = (reversed ? Sentences.Reverse() : Sentences).Select(Encode).ToArray();
        var values = new long[rows * length];
        for (var r = 0; r < rows; r++)
        {
            var row = new List<long> { _cls };
            for (var s = r; row.Count < length - 1; s++) row.AddRange(encoded[s % encoded.Length]);
            row = row.Take(length - 1).Append(_sep).ToList();
            row.CopyTo(values, r * length);
        }
        return values;
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
