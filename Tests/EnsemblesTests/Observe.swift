import Ensembles

/// The forward observables named as a campaign's `forward` list names them.
func observe(_ names: String...) -> Observables {
    Observables(names.map { name -> any Observable in
        switch name {
        case "q": return MeanSquaredLength()
        case "c": return MeanCorrelation()
        case "gram": return GramEntries()
        case "orth_gap": return OrthogonalityGap()
        case "eff_rank": return EffectiveRank()
        case "traj_length": return TrajectoryLength()
        case "sensitivity": return Sensitivity()
        case "spatial": return SpatialCorrelation()
        default: preconditionFailure("no forward observable '\(name)' in the tests' list")
        }
    })
}
