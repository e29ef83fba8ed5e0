using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace RecService.Cli.Commands;

/// <summary>
/// The machine's fp32 multiply-add ceiling, measured rather than taken from a data sheet: every thread runs chains of
/// 256-bit FMAs that do not depend on each other (more chains than the FMA latency times the FMA ports, so the units
/// never wait), all threads at once. Benchmarks print their GFLOP/s as a share of it, measured in the same run.
/// </summary>
internal static class FmaPeak
{
    /// <summary>fp32 GFLOP/s summed over <paramref name="threads"/> threads running together for about <paramref name="duration"/>.</summary>
    public static double Measure(int threads, TimeSpan duration)
    {
        var rates = new double[threads];
        using var start = new Barrier(threads);
        var workers = new Thread[threads];
        for (var t = 0; t < threads; t++)
        {
            var index = t;
            workers[t] = new Thread(() =>
            {
                Chains(1000); // compiled before the clock starts
                start.SignalAndWait();
                var clock = Stopwatch.StartNew();
                long rounds = 0;
                while (clock.Elapsed < duration)
                {
                    Chains(100_000);
                    rounds += 100_000;
                }
                rates[index] = rounds * FlopsPerRound / clock.Elapsed.TotalSeconds / 1e9;
            }) { IsBackground = true };
            workers[t].Start();
        }
        foreach (var worker in workers) worker.Join();
        return rates.Sum();
    }

    private const int FlopsPerRound = 12 * 8 * 2;

    /// <summary>Twelve independent chains of a = a * m + c; m just below one keeps the values finite and normal.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static float Chains(int rounds)
    {
        var m = Vector256.Create(0.9999999f);
        var c = Vector256.Create(1e-7f);
        Vector256<float> a0 = Vector256.Create(1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
        for (var i = 0; i < rounds; i++)
        {
            a0 = Vector256.FusedMultiplyAdd(a0, m, c);
            a1 = Vector256.FusedMultiplyAdd(a1, m, c);
            a2 = Vector256.FusedMultiplyAdd(a2, m, c);
            a3 = Vector256.FusedMultiplyAdd(a3, m, c);
            a4 = Vector256.FusedMultiplyAdd(a4, m, c);
            a5 = Vector256.FusedMultiplyAdd(a5, m, c);
            a6 = Vector256.FusedMultiplyAdd(a6, m, c);
            a7 = Vector256.FusedMultiplyAdd(a7, m, c);
            a8 = Vector256.FusedMultiplyAdd(a8, m, c);
            a9 = Vector256.FusedMultiplyAdd(a9, m, c);
            a10 = Vector256.FusedMultiplyAdd(a10, m, c);
            a11 = Vector256.FusedMultiplyAdd(a11, m, c);
        }
        return Vector256.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
    }
}
