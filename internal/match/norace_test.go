//go:build !race

package match

// raceEnabled skips allocation checks, which sync.Pool defeats under -race.
const raceEnabled = false
