package forecast

import (
	"math"
	"sort"
	"strconv"
)

// SeasonalMedian is a spike-proof seasonal naive forecast: the value of a step
// is the median of the same slot in the last Seasons seasons, moved by the
// change in level since then. The level is the median of the last LevelWindow
// steps, compared with the median of the same windows one, two, … seasons
// earlier. One spike, today or on one of the earlier days, moves neither part;
// a level shift is followed within LevelWindow steps.
type SeasonalMedian struct {
	Period int
	// Seasons is how many past seasons vote; 0 means 3.
	Seasons int
	// LevelWindow in steps; 0 means a 24th of the period (an hour of a daily
	// season), at least 3: the fewest whose median outvotes one spike.
	LevelWindow int
}

func (m SeasonalMedian) Name() string {
	if m.Seasons == 0 || m.Seasons == 3 {
		return "seasonal-median"
	}
	return "seasonal-median-" + strconv.Itoa(m.seasons())
}

func (m SeasonalMedian) period() int { return max(1, m.Period) }
func (m SeasonalMedian) seasons() int {
	if m.Seasons <= 0 {
		return 3
	}
	return m.Seasons
}
func (m SeasonalMedian) window() int {
	if m.LevelWindow > 0 {
		return m.LevelWindow
	}
	return max(3, m.period()/24)
}

// MinPoints asks for every voting season and the level window before them.
func (m SeasonalMedian) MinPoints() int { return m.seasons()*m.period() + m.window() }

func (m SeasonalMedian) Fit(train []float64) (State, error) {
	if err := checkFinite(train, m.MinPoints()); err != nil {
		return nil, err
	}
	size := m.MinPoints()
	st := &seasonalMedianState{period: m.period(), seasons: m.seasons(), window: m.window(),
		hist: make([]float64, size), scratch: make([]float64, 0, max(m.seasons(), m.window()))}
	copy(st.hist, train[len(train)-size:])
	return st, nil
}

// seasonalMedianState keeps the last MinPoints values in a ring; hist[next] is
// the oldest.
type seasonalMedianState struct {
	period, seasons, window int
	hist                    []float64
	next                    int
	scratch                 []float64
}

// back is the value k steps before the next one (k ≥ 1).
func (s *seasonalMedianState) back(k int) float64 {
	n := len(s.hist)
	return s.hist[((s.next-k)%n+n)%n]
}

func (s *seasonalMedianState) Observe(y float64) {
	if !finite(y) {
		y = s.Forecast(1)[0] // a missing value is taken as forecast
	}
	s.hist[s.next] = y
	s.next = (s.next + 1) % len(s.hist)
}

// windowMedian is the median of the window steps ending k steps before the next.
func (s *seasonalMedianState) windowMedian(k int) float64 {
	s.scratch = s.scratch[:0]
	for i := 0; i < s.window; i++ {
		s.scratch = append(s.scratch, s.back(k+i))
	}
	return medianInPlace(s.scratch)
}

func (s *seasonalMedianState) Forecast(h int) []float64 {
	// The level change since each voting season, combined by their median.
	current := s.windowMedian(1)
	past := make([]float64, 0, s.seasons)
	for j := 1; j <= s.seasons; j++ {
		past = append(past, s.windowMedian(1+j*s.period))
	}
	shift := current - medianInPlace(past)
	f := make([]float64, h)
	votes := make([]float64, 0, s.seasons)
	for i := range f {
		votes = votes[:0]
		for j := 1; j <= s.seasons; j++ {
			k := j*s.period - i // steps before the next one
			if k >= 1 {
				votes = append(votes, s.back(k))
			} else {
				votes = append(votes, f[-k]-shift) // beyond a season: our own forecast
			}
		}
		f[i] = medianInPlace(votes) + shift
	}
	return sanitize(f, s.back(1))
}

// medianInPlace sorts x and returns its median (NaN for none).
func medianInPlace(x []float64) float64 {
	n := len(x)
	if n == 0 {
		return math.NaN()
	}
	sort.Float64s(x)
	if n%2 == 1 {
		return x[n/2]
	}
	return (x[n/2-1] + x[n/2]) / 2
}
