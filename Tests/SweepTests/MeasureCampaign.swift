import Ensembles
@testable import Sweep

/// Runs every task of a one-point campaign, as a sweep would, and returns its merged
/// statistics and theory.
func measureCampaign(_ toml: String) throws -> (EnsembleStatistics, PointTheory, Campaign) {
    let campaign = try Campaign(toml: toml)
    let catalog = TaskCatalog(campaign: campaign)
    var merger = OrderedMerger(catalog: catalog)
    for t in 0..<catalog.count { merger.add(task: t, try catalog.run(t)) }
    let theory = PointTheory(network: catalog.points[0].network, inputs: try catalog.prepared(0).inputs,
                             observables: campaign.observables)
    return (merger.merged[0], theory, campaign)
}

/// The mean-field side of a one-point campaign's point, for the laws behind its predictions.
func theoryContext(_ campaign: Campaign) throws -> TheoryContext {
    let catalog = TaskCatalog(campaign: campaign)
    return TheoryContext(network: catalog.points[0].network, inputs: try catalog.prepared(0).inputs)
}

/// The L1 distance between a pooled histogram's bin masses and a law's (`masses`, over the
/// same bins), the mass outside the bins included, and the distance multinomial sampling
/// alone would give for n independent values with the law's masses,
/// E Σ|p̂_i − p_i| ≈ Σ √(2 p_i (1 − p_i)/(π n)).
func histogramFit(_ histogram: SpectrumHistogram, masses: [Double]) -> (distance: Double, noise: Double) {
    let n = Double(histogram.total + histogram.belowFloor)
    let empirical = histogram.counts.map { Double($0) / n }
    let outside = max(0, 1 - masses.reduce(0, +)), outsideMC = 1 - empirical.reduce(0, +)
    let distance = zip(empirical, masses).reduce(0) { $0 + abs($1.0 - $1.1) } + abs(outsideMC - outside)
    let noise = (masses + [outside]).reduce(0) { $0 + (2 * $1 * (1 - $1) / (Double.pi * n)).squareRoot() }
    return (distance, noise)
}
