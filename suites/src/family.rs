//! Trials generated per IP family: one definition, an IPv4 and an IPv6 trial, their names, claims and
//! needs spelled out at compile time (so `--list` and the reports name them as before).
//!
//! upstream: cilium-cli's `ForEachIPFamily` (connectivity/check), which runs one action per family.

/// A suite module's trials as a `&'static [TrialDef]`, in order. An entry is a `TrialDef { .. }` or a
/// `per_family { .. }` that stands for two trials, the IPv4 one then the IPv6 one:
///
/// - `name`: the scenario; the trials are `<name>::ipv4` and `<name>::ipv6`;
/// - `claim`: the claim in pieces; the family (`IPv4`, `IPv6`) goes between each two of them;
/// - `needs`: beyond the family's own need (`Need::Ipv4`, `Need::Ipv6`), which comes first;
/// - `run`: a `fn(Ctx, IpFamily)` future, called with the trial's family.
macro_rules! trials {
    (@munch [$($done:expr,)*]) => { &[$($done,)*] };
    (@munch [$($done:expr,)*] per_family {
        name: $name:literal,
        claim: [$($claim:literal),+ $(,)?],
        doc_url: $doc_url:expr,
        needs: [$($need:expr),* $(,)?],
        run: $run:path $(,)?
    } $(, $($tail:tt)*)?) => {
        $crate::family::trials!(@munch [$($done,)*
            $crate::family::trials!(@one "ipv4", Ipv4, IPv4, $name, [$($claim),+], $doc_url, [$($need),*], $run),
            $crate::family::trials!(@one "ipv6", Ipv6, IPv6, $name, [$($claim),+], $doc_url, [$($need),*], $run),
        ] $($($tail)*)?)
    };
    (@munch [$($done:expr,)*] $trial:expr $(, $($tail:tt)*)?) => {
        $crate::family::trials!(@munch [$($done,)* $trial,] $($($tail)*)?)
    };
    // One family's trial: `$need` names its `Need`, `$family` its `IpFamily` (and, spelled, the claim's word).
    (@one $suffix:literal, $need:ident, $family:ident, $name:literal, [$first:literal $(, $rest:literal)*],
        $doc_url:expr, [$($needs:expr),*], $run:path) => {
        ::netconform::trial::TrialDef {
            name: concat!($name, "::", $suffix),
            claim: concat!($first $(, stringify!($family), $rest)*),
            doc_url: $doc_url,
            needs: &[::netconform::preflight::Need::$need, $($needs),*],
            run: |ctx| Box::pin($run(ctx, ::netconform::ipfamily::IpFamily::$family)),
        }
    };
    ($($entries:tt)*) => { $crate::family::trials!(@munch [] $($entries)*) };
}
pub(crate) use trials;

#[cfg(test)]
mod tests {
    use netconform::ctx::Ctx;
    use netconform::failure::TrialError;
    use netconform::ipfamily::IpFamily;
    use netconform::preflight::Need;
    use netconform::trial::TrialDef;

    async fn check(_: Ctx, _: IpFamily) -> Result<(), TrialError> {
        Ok(())
    }

    const TRIALS: &[TrialDef] = trials![
        TrialDef {
            name: "s::first",
            claim: "before",
            doc_url: "u",
            needs: &[],
            run: |ctx| Box::pin(check(ctx, IpFamily::IPv4)),
        },
        per_family {
            name: "s::pair",
            claim: ["a pod's ", " address and its own ", " address"],
            doc_url: "u",
            needs: [Need::SchedulableNodes(2)],
            run: check,
        },
        TrialDef {
            name: "s::last",
            claim: "after",
            doc_url: "u",
            needs: &[],
            run: |ctx| Box::pin(check(ctx, IpFamily::IPv4)),
        },
    ];

    #[test]
    fn a_pair_is_two_trials_in_place_with_the_family_in_name_claim_and_needs() {
        let names: Vec<&str> = TRIALS.iter().map(|t| t.name).collect();
        assert_eq!(
            names,
            ["s::first", "s::pair::ipv4", "s::pair::ipv6", "s::last"]
        );
        assert_eq!(
            TRIALS[1].claim,
            "a pod's IPv4 address and its own IPv4 address"
        );
        assert_eq!(
            TRIALS[2].claim,
            "a pod's IPv6 address and its own IPv6 address"
        );
        assert_eq!(
            format!("{:?}", TRIALS[1].needs),
            format!("{:?}", [Need::Ipv4, Need::SchedulableNodes(2)])
        );
        assert_eq!(
            format!("{:?}", TRIALS[2].needs),
            format!("{:?}", [Need::Ipv6, Need::SchedulableNodes(2)])
        );
    }
}
