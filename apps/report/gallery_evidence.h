// The gallery's evidence sections (docs/method.md §8): the faithfulness summary (mean
// deletion and insertion areas per map over all neurons and per neuron, the mean curves),
// the randomisation check (mean Spearman's ρ and SSIM per stage), each number defined in
// the text; and per neuron its own curves and tables. Nothing is written for a part the
// run did not compute.
#pragma once
#include <sstream>

#include "apps/report/run_result.h"

namespace sv {

void evidence_summary_html(std::ostringstream& o, const RunResult& r);
void neuron_evidence_html(std::ostringstream& o, const RunResult& r, const NeuronResult& n);

}  // namespace sv
