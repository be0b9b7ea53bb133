"""Runs Open Bandit Pipeline's IPS, SNIPS and DR on the Open Bandit Dataset sample that ships inside obp,
and writes the same rounds (logged action, reward, propensity, the evaluation policy's choice and the
reward model's predictions at the logged position) as JSON Lines for `rummage ope estimate`.

Usage: python ope_obp_parity.py ROUNDS_FILE  (prints obp's estimates as one JSON object)
"""
import json
import sys

import numpy as np
from obp.dataset import OpenBanditDataset
from obp.ope import DoublyRobust, InverseProbabilityWeighting, OffPolicyEvaluation, RegressionModel, SelfNormalizedInverseProbabilityWeighting
from obp.policy import BernoulliTS
from sklearn.linear_model import LogisticRegression

dataset = OpenBanditDataset(behavior_policy="random", campaign="all")
feedback = dataset.obtain_batch_bandit_feedback()
n, actions = feedback["n_rounds"], feedback["n_actions"]
# The evaluation policy of obp's examples: Bernoulli Thompson sampling with ZOZOTOWN's production prior.
policy = BernoulliTS(n_actions=actions, len_list=dataset.len_list, is_zozotown_prior=True, campaign="all", random_state=12345)
action_dist = policy.compute_batch_action_dist(n_sim=100_000, n_rounds=n)
model = RegressionModel(n_actions=actions, len_list=dataset.len_list, action_context=feedback["action_context"],
                        base_model=LogisticRegression(max_iter=1000, random_state=12345))
predicted = model.fit_predict(context=feedback["context"], action=feedback["action"], reward=feedback["reward"],
                              position=feedback["position"], pscore=feedback["pscore"], n_folds=3, random_state=12345)
evaluation = OffPolicyEvaluation(bandit_feedback=feedback, ope_estimators=[
    InverseProbabilityWeighting(), SelfNormalizedInverseProbabilityWeighting(), DoublyRobust()])
values = evaluation.estimate_policy_values(action_dist=action_dist, estimated_rewards_by_reg_model=predicted)

with open(sys.argv[1], "w") as out:
    for i in range(n):
        position = int(feedback["position"][i])
        out.write(json.dumps({
            "action": int(feedback["action"][i]), "reward": float(feedback["reward"][i]), "propensity": float(feedback["pscore"][i]),
            "target": [float(x) for x in action_dist[i, :, position]],
            "predicted": [float(x) for x in predicted[i, :, position]],
        }) + "\n")
print(json.dumps({"rounds": int(n), "actions": int(actions), "ips": values["ipw"], "snips": values["snipw"], "dr": values["dr"]}))
