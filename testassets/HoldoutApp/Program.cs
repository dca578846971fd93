// The artifacts are the point of this project: see bin/<configuration>/net10.0/modelbuild-report.md.
Console.WriteLine(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "modelbuild-report.md")));
