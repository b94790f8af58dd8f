//go:build race

package main

// raceEnabled: the smoke test builds billingd the way this test binary was
// built, so that the build cache already holds its packages.
const raceEnabled = true
