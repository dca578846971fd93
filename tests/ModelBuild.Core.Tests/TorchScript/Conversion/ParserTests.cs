using ModelBuild.TorchScript.Conversion.Syntax;

namespace ModelBuild.Core.Tests.TorchScript.Conversion;

public sealed class ParserTests
{
    private const string Traced = """
        class Net(Module):
          __parameters__ = []
          training : bool
          conv : __torch__.torch.nn.modules.conv.Conv2d
          __annotations__["0"] = __torch__.X
          in_features : Final[int] = 12
          def forward(self: __torch__.Net,
            x: Tensor,
            flag: bool=False,
            scale: float=2.) -> Tuple[Tensor, Tensor]:
            conv = self.conv
            _0 = ops.prim.NumToTensor(torch.size(x, 0))
            a, b, = torch.chunk((conv).forward(x, ), 2, 1)
            y = torch.view(a, [int(_0), -1])
            z = torch.gelu(b, approximate="tanh")
            return (y, torch.add(z, CONSTANTS.c0, alpha=-1.0000000000000001e-05))
        """;

    [Fact]
    public void Parses_classes_signatures_and_constants()
    {
        var file = Parser.ParseFile(Traced, "__torch__.py");
        var net = file.Classes["Net"];
        Assert.Equal(["forward"], net.Methods.Keys);
        Assert.Equal(12L, Assert.IsType<ConstExpr>(net.Constants["in_features"]).Value);
        var forward = net.Methods["forward"];
        Assert.Equal(["self", "x", "flag", "scale"], forward.Parameters.Select(p => p.Name));
        Assert.Equal(false, Assert.IsType<ConstExpr>(forward.Parameters[2].Default).Value);
        Assert.Equal(2.0, Assert.IsType<ConstExpr>(forward.Parameters[3].Default).Value);
        Assert.Equal(6, forward.Body.Count);
        Assert.Equal(7, forward.Line);
    }

    [Fact]
    public void Parses_tuple_unpacking_keywords_and_lines()
    {
        var forward = Parser.ParseFile(Traced, "__torch__.py").Classes["Net"].Methods["forward"];
        var unpack = Assert.IsType<AssignStmt>(forward.Body[2]);
        Assert.True(unpack.Unpack);
        Assert.Equal(2, unpack.Targets.Count);
        Assert.Equal(13, unpack.Line);
        var ret = Assert.IsType<ReturnStmt>(forward.Body[5]);
        var tuple = Assert.IsType<TupleExpr>(ret.Value);
        var add = Assert.IsType<CallExpr>(tuple.Items[1]);
        Assert.Equal("alpha", add.Kwargs[0].Name);
        Assert.Equal(-1.0000000000000001e-05, Assert.IsType<ConstExpr>(add.Kwargs[0].Value).Value);
        var constant = Assert.IsType<AttrExpr>(add.Args[1]);
        Assert.Equal("c0", constant.Name);
    }

    [Fact]
    public void Parses_scripted_control_flow()
    {
        const string source = """
            def f(x: Tensor, n: int) -> Tensor:
              if n == 0:
                y = x
              elif torch.__isnot__(n, None):
                y = torch.neg(x)
              else:
                pass
              for i in range(n):
                y = torch.add(y, i)
              while False:
                break
              return y if n > 1 else x
            """;
        var f = Parser.ParseFile(source, "m.py").Functions["f"];
        var branch = Assert.IsType<IfStmt>(f.Body[0]);
        Assert.IsType<IfStmt>(Assert.Single(branch.Else));
        Assert.IsType<ForStmt>(f.Body[1]);
        Assert.IsType<WhileStmt>(f.Body[2]);
        Assert.IsType<TernaryExpr>(Assert.IsType<ReturnStmt>(f.Body[3]).Value);
    }

    [Theory]
    [InlineData("1 + 2 * 3", "+")]
    [InlineData("a or b and c", "or")]
    [InlineData("not a == b", "not")]
    [InlineData("x[0]", "[]")]
    [InlineData("-9223372036854775807", "const")]
    public void Expression_precedence(string source, string top)
    {
        var e = Parser.ParseExpression(source);
        var actual = e switch
        {
            BinaryExpr b => b.Op,
            UnaryExpr u => u.Op,
            SubscriptExpr => "[]",
            ConstExpr => "const",
            _ => e.GetType().Name,
        };
        Assert.Equal(top, actual);
    }

    [Fact]
    public void Syntax_error_names_file_and_line()
    {
        var e = Assert.Throws<TorchScriptSyntaxException>(() => Parser.ParseFile("class A(Module):\n  def forward(self, x):\n    y = = x\n", "__torch__/a.py"));
        Assert.Equal(3, e.Line);
        Assert.Equal("__torch__/a.py", e.File);
    }
}
