using ModelBuild.Data;
using ModelBuild.Onnx;

namespace ModelBuild.Core.Tests.Data;

/// <summary>Generated token-id inputs from a WordPiece vocabulary: sentences, [CLS]/[SEP], [PAD] under the mask.</summary>
public sealed class GeneratedTextTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mb-vocab-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A vocabulary of the first built-in sentence's words: ids 0 [PAD], 1 [UNK], 2 [CLS], 3 [SEP], then words.</summary>
    private WordPieceTokenizer Tokenizer()
    {
        File.WriteAllLines(Path.Combine(_dir, WordPieceTokenizer.VocabularyFile),
            ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "near", "river", "bank", "."]);
        File.WriteAllText(Path.Combine(_dir, "model.onnx"), "");
        return WordPieceTokenizer.Beside(Path.Combine(_dir, "model.onnx"))!;
    }

    private static readonly TensorInfo[] Inputs =
    [
        new("input_ids", TensorElementType.Int64, [Dimension.Dynamic("batch"), Dimension.Dynamic("sequence")]),
        new("attention_mask", TensorElementType.Int64, [Dimension.Dynamic("batch"), Dimension.Dynamic("sequence")]),
        new("token_type_ids", TensorElementType.Int64, [Dimension.Dynamic("batch"), Dimension.Dynamic("sequence")]),
    ];

    [Fact]
    public void Token_ids_are_sentences_with_special_tokens_and_padding_under_the_mask()
    {
        var generated = SyntheticInputs.Generate(Inputs, 2, 7, text: Tokenizer());
        var ids = generated["input_ids"].ToDoubles();
        var mask = generated["attention_mask"].ToDoubles();
        const int Length = SyntheticInputs.SequenceLength;
        // Row 0: "[CLS] the quick brown fox jumps over the lazy dog near the river bank . …", unpadded, [SEP] last.
        Assert.Equal([2, 4, 5, 6, 7, 8, 9, 4, 10, 11, 12, 4, 13, 14, 15], ids.Take(15));
        Assert.Equal(3, ids[Length - 1]);
        // Row 1 is padded on its last quarter (the mask generator's padded batch): [SEP] before it, [PAD] under it.
        var text = (int)mask.Skip(Length).Take(Length).Sum();
        Assert.Equal(Length - Length / 4, text);
        Assert.Equal(2, ids[Length]);
        Assert.Equal(3, ids[Length + text - 1]);
        Assert.All(ids.Skip(Length + text).Take(Length - text), id => Assert.Equal(0, id));
        // Token types and the mask are what the generator writes without a vocabulary.
        var plain = SyntheticInputs.Generate(Inputs, 2, 7);
        Assert.Equal(plain["token_type_ids"].ToDoubles(), generated["token_type_ids"].ToDoubles());
        Assert.Equal(plain["attention_mask"].ToDoubles(), mask);
    }

    [Fact]
    public void A_vocabulary_whose_ids_exceed_the_models_table_is_not_used()
    {
        var ranges = new Dictionary<string, InputValueRange> { ["input_ids"] = new(0, 9) }; // the model's table has 10 rows
        var generated = SyntheticInputs.Generate(Inputs, 2, 7, ranges, Tokenizer());
        // The sentences use ids up to 15: had they been written, ids above 9 would be there.
        Assert.All(generated["input_ids"].ToDoubles(), id => Assert.InRange(id, 0, 9));
    }

    [Fact]
    public void A_vocab_txt_that_is_no_wordpiece_vocabulary_is_ignored()
    {
        File.WriteAllLines(Path.Combine(_dir, WordPieceTokenizer.VocabularyFile), ["hello", "world"]);
        Assert.Null(WordPieceTokenizer.Beside(Path.Combine(_dir, "model.onnx")));
        Assert.Null(WordPieceTokenizer.Beside(Path.Combine(_dir, "elsewhere", "model.onnx")));
    }
}
