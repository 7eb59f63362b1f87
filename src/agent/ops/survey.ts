// `probe` on the source and `admit` on the destination: a coordinator's preflight. The source
// says what the tree needs without stopping it; the destination says what it cannot offer.
import { surveyTree, type TreeSurvey } from '../../core/survey/tree.js';
import { admit as admitHere, type Admission } from '../../core/survey/admission.js';
import type { AgentContext } from '../context.js';
import type { OpArgs } from '../../pageserver/protocol.js';

export function probe(ctx: AgentContext, args: OpArgs['probe']): TreeSurvey {
  return surveyTree(args.pid, ctx.host.cpu.xsaveFeatures);
}

export function admit(ctx: AgentContext, args: OpArgs['admit']): Admission {
  return admitHere(args.survey, { xsaveFeatures: ctx.host.cpu.xsaveFeatures, stateDir: ctx.state.root });
}
