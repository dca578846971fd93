using Google.FlatBuffers;

namespace ModelBuild.Targets.Tflite;

/// <summary>
/// Writes a <see cref="TfliteModel"/> as a TFLite flatbuffer (schema version 3, identifier "TFL3"). Flatbuffers
/// are built back to front, so every table's strings, vectors and child tables are written before the table.
/// Field slots are schema.fbs positions; each is named beside its number.
/// </summary>
public static class TfliteSerializer
{
    private const int SchemaVersion = 3;

    public static byte[] Serialize(TfliteModel model)
    {
        var builder = new FlatBufferBuilder(1024 + model.Tensors.Sum(t => t.Data?.Length ?? 0));

        // Buffers: 0 is the schema's empty sentinel for tensors without data; constants get one each.
        var bufferOffsets = new List<int> { EmptyTable(builder) };
        var bufferOf = new Dictionary<int, uint>();
        foreach (var tensor in model.Tensors.Where(t => t.IsConstant))
        {
            var data = ByteVector(builder, tensor.Data!, alignment: 16);
            builder.StartTable(3);
            builder.AddOffset(0, data.Value, 0);                     // Buffer.data
            bufferOf[tensor.Index] = (uint)bufferOffsets.Count;
            bufferOffsets.Add(builder.EndTable());
        }

        var tensorOffsets = model.Tensors.Select(t => WriteTensor(builder, t, bufferOf.GetValueOrDefault(t.Index))).ToList();

        var opcodes = model.Operators.Select(o => (o.Op, o.Version)).Distinct().ToList();
        var operatorOffsets = model.Operators.Select(o => WriteOperator(builder, o, opcodes.IndexOf((o.Op, o.Version)))).ToList();

        var tensors = OffsetVector(builder, tensorOffsets);
        var inputs = IntVector(builder, model.Inputs.Select(i => i.Tensor).ToArray());
        var outputs = IntVector(builder, model.Outputs.Select(o => o.Tensor).ToArray());
        var operators = OffsetVector(builder, operatorOffsets);
        var subgraphName = builder.CreateString("main");
        builder.StartTable(5);
        builder.AddOffset(0, tensors.Value, 0);                      // SubGraph.tensors
        builder.AddOffset(1, inputs.Value, 0);                       // SubGraph.inputs
        builder.AddOffset(2, outputs.Value, 0);                      // SubGraph.outputs
        builder.AddOffset(3, operators.Value, 0);                    // SubGraph.operators
        builder.AddOffset(4, subgraphName.Value, 0);                 // SubGraph.name
        var subgraph = builder.EndTable();

        var codeOffsets = opcodes.Select(c =>
        {
            builder.StartTable(4);
            builder.AddSbyte(0, (sbyte)Math.Min((int)c.Op, (int)TfliteOp.PlaceholderForGreaterOpCodes), 0); // deprecated_builtin_code
            builder.AddInt(2, c.Version, 1);                         // OperatorCode.version
            builder.AddInt(3, (int)c.Op, 0);                         // OperatorCode.builtin_code
            return builder.EndTable();
        }).ToList();

        var signature = WriteSignature(builder, model);

        var codes = OffsetVector(builder, codeOffsets);
        var subgraphs = OffsetVector(builder, [subgraph]);
        var description = builder.CreateString(model.Description);
        var buffers = OffsetVector(builder, bufferOffsets);
        var signatures = OffsetVector(builder, [signature]);
        builder.StartTable(8);
        builder.AddUint(0, SchemaVersion, 0);                        // Model.version
        builder.AddOffset(1, codes.Value, 0);                        // Model.operator_codes
        builder.AddOffset(2, subgraphs.Value, 0);                    // Model.subgraphs
        builder.AddOffset(3, description.Value, 0);                  // Model.description
        builder.AddOffset(4, buffers.Value, 0);                      // Model.buffers
        builder.AddOffset(7, signatures.Value, 0);                   // Model.signature_defs
        var root = builder.EndTable();
        builder.Finish(root, "TFL3");
        return builder.SizedByteArray();
    }

    private static int WriteTensor(FlatBufferBuilder builder, TfliteTensor tensor, uint buffer)
    {
        var shape = IntVector(builder, tensor.Shape);
        var name = builder.CreateString(tensor.Name);
        var quantization = tensor.Quantization is { } q ? WriteQuantization(builder, q) : 0;
        builder.StartTable(9);
        builder.AddOffset(0, shape.Value, 0);                        // Tensor.shape
        builder.AddSbyte(1, (sbyte)tensor.Type, 0);                  // Tensor.type
        builder.AddUint(2, buffer, 0);                               // Tensor.buffer
        builder.AddOffset(3, name.Value, 0);                         // Tensor.name
        if (quantization != 0) builder.AddOffset(4, quantization, 0); // Tensor.quantization
        builder.AddBool(8, true, false);                             // Tensor.has_rank: shapes are all known
        return builder.EndTable();
    }

    private static int WriteQuantization(FlatBufferBuilder builder, TfliteQuantization q)
    {
        builder.StartVector(4, q.Scale.Length, 4);
        for (var i = q.Scale.Length - 1; i >= 0; i--) builder.AddFloat(q.Scale[i]);
        var scale = builder.EndVector();
        builder.StartVector(8, q.ZeroPoint.Length, 8);
        for (var i = q.ZeroPoint.Length - 1; i >= 0; i--) builder.AddLong(q.ZeroPoint[i]);
        var zeroPoint = builder.EndVector();
        builder.StartTable(7);
        builder.AddOffset(2, scale.Value, 0);                        // QuantizationParameters.scale
        builder.AddOffset(3, zeroPoint.Value, 0);                    // QuantizationParameters.zero_point
        builder.AddInt(6, q.Dimension, 0);                           // QuantizationParameters.quantized_dimension
        return builder.EndTable();
    }

    private static int WriteOperator(FlatBufferBuilder builder, TfliteOperator op, int opcodeIndex)
    {
        var inputs = IntVector(builder, op.Inputs);
        var outputs = IntVector(builder, op.Outputs);
        var options = op.Options is { } o ? WriteOptions(builder, o) : 0;
        builder.StartTable(5);
        builder.AddUint(0, (uint)opcodeIndex, 0);                    // Operator.opcode_index
        builder.AddOffset(1, inputs.Value, 0);                       // Operator.inputs
        builder.AddOffset(2, outputs.Value, 0);                      // Operator.outputs
        if (op.Options is not null)
        {
            builder.AddByte(3, (byte)op.Options.Type, 0);            // Operator.builtin_options_type
            builder.AddOffset(4, options, 0);                        // Operator.builtin_options
        }
        return builder.EndTable();
    }

    private static int WriteOptions(FlatBufferBuilder builder, TfliteOptions options)
    {
        // Vectors first: they cannot be written inside the table.
        var vectors = options.Fields.Where(f => f.Value is int[])
            .ToDictionary(f => f.Slot, f => IntVector(builder, (int[])f.Value).Value);
        builder.StartTable(options.Fields.Count == 0 ? 0 : options.Fields.Max(f => f.Slot) + 1);
        // ForceDefaults so that a field equal to the schema's default is still written (the reader's default may differ
        // from the one the value was meant as, e.g. dilation factors default to 1, not 0).
        builder.ForceDefaults = true;
        foreach (var (slot, value) in options.Fields)
        {
            switch (value)
            {
                case sbyte b: builder.AddSbyte(slot, b, 0); break;
                case int i: builder.AddInt(slot, i, 0); break;
                case float f: builder.AddFloat(slot, f, 0); break;
                case bool b: builder.AddBool(slot, b, false); break;
                case int[]: builder.AddOffset(slot, vectors[slot], 0); break;
                default: throw new InvalidOperationException($"options field of type {value.GetType().Name}");
            }
        }
        builder.ForceDefaults = false;
        return builder.EndTable();
    }

    private static int WriteSignature(FlatBufferBuilder builder, TfliteModel model)
    {
        int Map((string Name, int Tensor) entry)
        {
            var name = builder.CreateString(entry.Name);
            builder.StartTable(2);
            builder.AddOffset(0, name.Value, 0);                     // TensorMap.name
            builder.AddUint(1, (uint)entry.Tensor, 0);               // TensorMap.tensor_index
            return builder.EndTable();
        }
        var inputs = OffsetVector(builder, model.Inputs.Select(Map).ToList());
        var outputs = OffsetVector(builder, model.Outputs.Select(Map).ToList());
        var key = builder.CreateString(TfliteModel.SignatureKey);
        builder.StartTable(5);
        builder.AddOffset(0, inputs.Value, 0);                       // SignatureDef.inputs
        builder.AddOffset(1, outputs.Value, 0);                      // SignatureDef.outputs
        builder.AddOffset(2, key.Value, 0);                          // SignatureDef.signature_key
        builder.AddUint(4, 0, 0);                                    // SignatureDef.subgraph_index
        return builder.EndTable();
    }

    private static int EmptyTable(FlatBufferBuilder builder)
    {
        builder.StartTable(0);
        return builder.EndTable();
    }

    private static VectorOffset ByteVector(FlatBufferBuilder builder, byte[] data, int alignment)
    {
        builder.StartVector(1, data.Length, alignment);
        for (var i = data.Length - 1; i >= 0; i--) builder.PutByte(data[i]);
        return builder.EndVector();
    }

    private static VectorOffset IntVector(FlatBufferBuilder builder, int[] values)
    {
        builder.StartVector(4, values.Length, 4);
        for (var i = values.Length - 1; i >= 0; i--) builder.AddInt(values[i]);
        return builder.EndVector();
    }

    private static VectorOffset OffsetVector(FlatBufferBuilder builder, IReadOnlyList<int> offsets)
    {
        builder.StartVector(4, offsets.Count, 4);
        for (var i = offsets.Count - 1; i >= 0; i--) builder.AddOffset(offsets[i]);
        return builder.EndVector();
    }
}
