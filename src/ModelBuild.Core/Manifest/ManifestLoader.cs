using ModelBuild.Diagnostics;
using ModelBuild.Manifest.Loading;
using NuGet.Versioning;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace ModelBuild.Manifest;

/// <summary>Reads deploy.yaml (schema 1) into a validated <see cref="DeployManifest"/>.</summary>
public static class ManifestLoader
{
    /// <summary>Largest manifest accepted, in bytes; a real one is a few KB.</summary>
    public const int MaxFileBytes = YamlSafetyScanner.MaxBytes;

    /// <summary>Reads and parses the manifest at <paramref name="path"/>; null when any error was reported.</summary>
    public static DeployManifest? Load(string path, DiagnosticBag diagnostics, NuGetVersion toolVersion)
    {
        var full = System.IO.Path.GetFullPath(path);
        var info = new FileInfo(full);
        if (!info.Exists)
        {
            diagnostics.Error(DiagnosticCodes.ManifestNotFound, $"manifest not found: {full}", new SourceLocation(full));
            return null;
        }
        // Checked before reading so a huge file is never pulled into memory.
        if (info.Length > MaxFileBytes)
        {
            diagnostics.Error(DiagnosticCodes.ManifestTooComplex,
                $"the manifest is {info.Length} bytes; manifests larger than {MaxFileBytes} bytes are refused",
                new SourceLocation(full));
            return null;
        }
        string text;
        try
        {
            text = File.ReadAllText(full);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            diagnostics.Error(DiagnosticCodes.ManifestNotFound, $"manifest can't be read: {ex.Message}", new SourceLocation(full));
            return null;
        }
        return Parse(text, full, diagnostics, toolVersion);
    }

    /// <summary>
    /// Parses manifest text. <paramref name="path"/> names the file in diagnostics and anchors relative paths.
    /// Reports every problem it finds; returns null when any of them is an error.
    /// </summary>
    public static DeployManifest? Parse(string yamlText, string path, DiagnosticBag diagnostics, NuGetVersion toolVersion)
    {
        var full = System.IO.Path.GetFullPath(path);
        var reader = new YamlNodeReader(full, diagnostics);
        if (yamlText.Length > MaxFileBytes)
        {
            reader.Report(DiagnosticCodes.ManifestTooComplex,
                $"the manifest is {yamlText.Length} characters; manifests larger than {MaxFileBytes} are refused",
                new SourceLocation(full));
            return null;
        }
        if (!YamlSafetyScanner.Scan(yamlText, reader)) return null;

        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yamlText));
        }
        catch (YamlException ex)
        {
            reader.Report(DiagnosticCodes.YamlSyntax, $"YAML syntax error: {YamlSafetyScanner.CleanMessage(ex)}", ex.Start);
            return null;
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException)
        {
            // YamlDotNet's node loader refuses some event sequences the scan accepted with these (found by fuzzing).
            reader.Report(DiagnosticCodes.YamlSyntax, $"YAML syntax error: the YAML loader cannot read this text ({ex.Message.TrimEnd('.')})",
                new SourceLocation(full, 1, 1));
            return null;
        }

        var root = stream.Documents.Count > 0 ? stream.Documents[0].RootNode : null;
        if (root is null || YamlNodeReader.IsNull(root))
        {
            reader.Report(DiagnosticCodes.UnsupportedSchema,
                "the manifest is empty; it must start with 'schema: 1' and list 'models'", new SourceLocation(full, 1, 1));
            return null;
        }
        if (root is not YamlMappingNode mapping)
        {
            reader.Report(DiagnosticCodes.InvalidValue,
                $"the manifest must be a mapping of keys (schema, models, ...), got {YamlNodeReader.Describe(root)}", root);
            return null;
        }

        var binder = new ManifestBinder(reader, System.IO.Path.GetDirectoryName(full)!, toolVersion);
        var manifest = binder.BindRoot(mapping);
        return reader.ErrorCount == 0 ? manifest : null;
    }
}
